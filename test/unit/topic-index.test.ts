// The per-node topic index against a plain model (a Map of Sets): after any
// sequence of subscribes, unsubscribes and closes, each topic holds exactly
// the model's ids, the counts agree, and a topic's first subscriber and
// last leaver are reported (they start and stop the node's Redis
// subscription to it).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicIndex } from '../../src/main/cluster/topic-index.ts';

type Step = { kind: 'add' | 'remove'; id: number; topic: string } | { kind: 'close'; id: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constantFrom('add' as const, 'remove' as const), id: fc.integer({ min: 1, max: 40 }), topic: fc.constantFrom('a', 'b', 'c', 'd') }),
  fc.record({ kind: fc.constant('close' as const), id: fc.integer({ min: 1, max: 40 }) }),
);

describe('TopicIndex', () => {
  it('agrees with a Map of Sets after any steps, and reports first subscribers and emptied topics', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const index = new TopicIndex();
        const model = new Map<string, Set<number>>();
        for (const s of steps) {
          if (s.kind === 'add') {
            const first = !model.has(s.topic);
            const members = model.get(s.topic) ?? new Set<number>();
            const wasIn = members.has(s.id);
            members.add(s.id);
            model.set(s.topic, members);
            expect(index.add(s.id, s.topic)).toBe(first && !wasIn);
          } else if (s.kind === 'remove') {
            const members = model.get(s.topic);
            const had = members?.has(s.id) === true;
            expect(index.has(s.id, s.topic)).toBe(had);
            let emptied = false;
            if (had) {
              members!.delete(s.id);
              emptied = members!.size === 0;
              if (emptied) model.delete(s.topic);
            }
            expect(index.remove(s.id, s.topic)).toBe(emptied);
          } else {
            const emptied: string[] = [];
            index.removeAll(s.id, (topic) => emptied.push(topic));
            const expected: string[] = [];
            for (const [topic, members] of model) {
              if (members.delete(s.id) && members.size === 0) {
                model.delete(topic);
                expected.push(topic);
              }
            }
            expect(emptied.sort()).toEqual(expected.sort());
          }
          let subscriptions = 0;
          for (const [topic, members] of model) {
            subscriptions += members.size;
            expect([...(index.members(topic) ?? [])].sort((x, y) => x - y)).toEqual([...members].sort((x, y) => x - y));
          }
          expect(index.topics).toBe(model.size);
          expect(index.subscriptions).toBe(subscriptions);
        }
      }),
    );
  });
});
