import { existsSync } from 'node:fs';
import { defineConfig } from 'vitepress';

// The guarantees page is written with the fault suite; list it once it exists,
// so the sidebar never links to a page that is not there.
const guarantees = existsSync(new URL('../guarantees.md', import.meta.url))
  ? [{ text: 'Guarantees', link: '/guarantees' }]
  : [];

export default defineConfig({
  title: 'runonce',
  description: 'Run a deployment task exactly once per deployment across a fleet; a fenced distributed lock.',
  // Kept explicit: a dead link fails the build (and so CI).
  ignoreDeadLinks: false,
  // Links end in .html, so the built site works from any static file server (or S3) as it is.
  cleanUrls: false,
  // backends/README.md is that folder's landing page.
  rewrites: { 'backends/README.md': 'backends/index.md' },
  themeConfig: {
    nav: [
      { text: 'Getting started', link: '/getting-started' },
      { text: 'Guides', link: '/guides/codedeploy' },
      { text: 'CLI', link: '/reference/cli' },
      { text: 'Library', link: '/library' },
      { text: 'Backends', link: '/backends/' },
    ],
    sidebar: [
      {
        text: 'Introduction',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Install', link: '/install' },
          { text: 'Concepts', link: '/concepts' },
          ...guarantees,
        ],
      },
      {
        text: 'Guides',
        items: [
          { text: 'CodeDeploy hooks and pipeline reset', link: '/guides/codedeploy' },
          { text: 'Auto Scaling groups', link: '/guides/auto-scaling' },
          { text: 'GitHub Actions and other CI', link: '/guides/ci' },
          { text: 'Kubernetes', link: '/guides/kubernetes' },
          { text: 'Observability', link: '/guides/observability' },
          { text: 'Migrating from the SSM script', link: '/migrating' },
          { text: 'Examples', link: '/examples' },
        ],
      },
      {
        text: 'Reference',
        items: [
          { text: 'CLI guide', link: '/cli' },
          { text: 'CLI reference (generated)', link: '/reference/cli' },
          { text: 'Library', link: '/library' },
          { text: 'Library API (checked)', link: '/reference/api' },
          { text: 'Troubleshooting', link: '/troubleshooting' },
          { text: 'Releasing', link: '/releasing' },
          { text: 'Architecture', link: '/architecture' },
          { text: 'Testing', link: '/testing' },
        ],
      },
      {
        text: 'Backends',
        items: [
          { text: 'How to choose', link: '/backends/' },
          { text: 'SSM Parameter Store', link: '/backends/ssm' },
          { text: 'DynamoDB', link: '/backends/dynamodb' },
          { text: 'Redis', link: '/backends/redis' },
          { text: 'PostgreSQL', link: '/backends/postgres' },
          { text: 'S3', link: '/backends/s3' },
          { text: 'A third-party backend', link: '/backends/custom' },
        ],
      },
    ],
    search: { provider: 'local' },
  },
});
