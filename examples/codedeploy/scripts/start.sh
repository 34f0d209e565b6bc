#!/bin/bash
set -euo pipefail
systemctl restart shop-web odoo
