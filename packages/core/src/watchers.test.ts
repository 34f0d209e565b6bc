import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { RunOnce } from './engine.js';
import { NotifyingMemory } from './testing.js';
import { Watchers } from './watchers.js';

const flush = async () => {
  for (let i = 0; i < 50; i++) await Promise.resolve();
};

describe('Watchers: who waits on which record', () => {
  it('wakes every watcher of a key together, only that key; first says when to subscribe', async () => {
    const w = new Watchers();
    const ac = new AbortController();
    const a = w.add('k', ac.signal);
    const b = w.add('k', ac.signal);
    const other = w.add('j', ac.signal);
    expect([a.first, b.first, other.first]).toEqual([true, false, true]);
    expect(w.count('k')).toBe(2);
    let woke = 0;
    for (const x of [a, b]) void x.promise.then(() => woke++);
    let otherWoke = false;
    void other.promise.then(() => {
      otherWoke = true;
    });
    w.wake('k');
    await flush();
    expect(woke).toBe(2);
    expect(otherWoke).toBe(false);
    expect(w.count('k')).toBe(0);
    expect(w.add('k', ac.signal).first).toBe(true); // a later watcher subscribes again
  });

  it('a watcher of one slot sleeps through changes of other slots; a wake without a slot wakes all', async () => {
    const w = new Watchers();
    const ac = new AbortController();
    const woke: string[] = [];
    const watch = (name: string, slot?: number) => void w.add('k', ac.signal, slot).promise.then(() => woke.push(name));
    watch('slot 3', 3);
    watch('slot 4', 4);
    watch('any');
    w.wake('k', 4);
    await flush();
    expect(woke.sort()).toEqual(['any', 'slot 4']);
    expect(w.count('k')).toBe(1);
    w.wake('k', 5);
    await flush();
    expect(w.count('k')).toBe(1); // nobody watches 5: slot 3 sleeps on
    w.wake('k'); // a removal: everyone
    await flush();
    expect(woke.sort()).toEqual(['any', 'slot 3', 'slot 4']);
    expect(w.count('k')).toBe(0);
    expect(w.add('k', ac.signal, 3).first).toBe(true);
  });

  it('an abort resolves that watcher alone; a failed subscription rejects it', async () => {
    const w = new Watchers();
    const one = new AbortController();
    const a = w.add('k', one.signal);
    const b = w.add('k', new AbortController().signal);
    one.abort();
    await expect(a.promise).resolves.toBeUndefined();
    expect(w.count('k')).toBe(1);
    b.fail(new Error('no subscription'));
    await expect(b.promise).rejects.toThrow('no subscription');
    expect(w.count('k')).toBe(0);
  });
});

describe('a waiter woken by the store', () => {
  it("learns the outcome when the owner writes done, without its poll's pause passing", async () => {
    const clock = new FakeClock();
    const backend = new NotifyingMemory();
    const make = (owner: string) => new RunOnce({ backend, namespace: 'n', owner, clock, random: () => 0.5 });
    let finish!: () => void;
    const gate = new Promise<void>((r) => {
      finish = r;
    });
    let started!: () => void;
    const startedP = new Promise<void>((r) => {
      started = r;
    });
    const owner = make('a').run('t', async () => {
      started();
      await gate;
    });
    await startedP;
    let outcome: unknown;
    const waiting = make('b')
      .run('t', () => 'ran twice')
      .then((o) => {
        outcome = o;
      });
    await flush(); // it read "running" and is now in its first pause (250 ms on a clock that does not move)
    expect(outcome).toBeUndefined();
    finish();
    await owner;
    await waiting; // no clock.advance(): only the wake-up can have ended the pause
    expect(outcome).toMatchObject({ state: 'done', ranHere: false, owner: 'a' });
    expect(backend.wakes).toBeGreaterThan(0);
    expect(backend.watchers.count('n/t/initial')).toBe(0); // disposed: nobody left watching
  });
});
