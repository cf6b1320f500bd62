/**
 * Draws the XState machines as mermaid state diagrams, from their definitions: the pictures in
 * docs/statecharts.md cannot drift from the code, and a test checks the file is current.
 *   node --import tsx scripts/statecharts.ts          prints the document
 *   node --import tsx scripts/statecharts.ts --write  rewrites docs/statecharts.md
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine } from 'xstate';
import { roleMachine } from '../src/machines/role.machine.ts';
import { replicatorMachine } from '../src/machines/replicator.machine.ts';
import { circuitBreakerMachine } from '../src/machines/circuit-breaker.machine.ts';

/** A guard as text: named guards by name, and()/or()/not() spelled out. */
function guardText(g: unknown): string {
  if (!g) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && 'type' in g) return String((g as { type: string }).type);
  if (typeof g === 'function') {
    const f = g as { guards?: unknown[]; check?: { name?: string }; name?: string };
    if (f.guards) {
      const parts = f.guards.map(guardText);
      const name = f.check?.name ?? '';
      if (name.includes('Not')) return `!${parts[0]}`;
      if (name.includes('Or')) return parts.join(' || ');
      return parts.join(' && ');
    }
    return f.name || 'guard';
  }
  return String(g);
}

interface Node {
  key: string;
  states: Record<string, Node>;
  transitions: Map<string, { target?: { key: string }[]; guard?: unknown }[]>;
  always?: { target?: { key: string }[]; guard?: unknown }[];
  config: { initial?: string };
  initial?: { target: { key: string }[] };
}

export function toMermaid(machine: AnyStateMachine): string {
  const root = machine.root as unknown as Node;
  const lines = ['stateDiagram-v2'];
  const initial = root.initial?.target?.[0]?.key;
  if (initial) lines.push(`  [*] --> ${initial}`);
  const edge = (from: string, to: string, label: string) => lines.push(`  ${from} --> ${to}: ${label.replace(/:/g, ' ')}`);
  for (const [name, state] of Object.entries(root.states)) {
    for (const [event, ts] of state.transitions) {
      for (const t of ts) {
        if (!t.target) continue;
        const g = guardText(t.guard);
        edge(name, t.target[0]!.key, g ? `${event} [${g}]` : event);
      }
    }
    for (const t of state.always ?? []) {
      if (!t.target || t.target[0]!.key === name && !guardText(t.guard)) continue;
      edge(name, t.target[0]!.key, `[${guardText(t.guard)}]`);
    }
  }
  // Transitions defined on the root apply in every state: one note per target.
  const fromAny = new Map<string, string[]>();
  for (const [event, ts] of root.transitions) {
    for (const t of ts) {
      if (!t.target) continue;
      const g = guardText(t.guard);
      const list = fromAny.get(t.target[0]!.key) ?? [];
      list.push(`${event}${g ? ` [${g}]` : ''}`);
      fromAny.set(t.target[0]!.key, list);
    }
  }
  for (const [target, labels] of fromAny) {
    lines.push(`  note right of ${target}`, `    from any state: ${labels.join(', or ').replace(/:/g, ' ')}`, '  end note');
  }
  return lines.join('\n');
}

export function statechartsDocument(): string {
  const section = (title: string, why: string, m: AnyStateMachine) =>
    `## ${title}\n\n${why}\n\n\`\`\`mermaid\n${toMermaid(m)}\n\`\`\`\n`;
  return [
    '# Statecharts',
    '',
    'Generated from the machine definitions by `node --import tsx scripts/statecharts.ts --write`;',
    'a test fails when this file and the machines disagree. Labels are `EVENT [guard]`; `[guard]` alone',
    'is an eventless transition, taken as soon as its guard holds.',
    '',
    section(
      'Role (src/machines/role.machine.ts)',
      'The election rules: randomized timeouts, PreVote, votes, CheckQuorum, stepping down on a higher term.',
      roleMachine,
    ),
    section(
      'Replicator (src/machines/replicator.machine.ts)',
      "One per follower while this node leads: it alone owns the follower's Progress; its state is the flow-control mode (probe, replicate, snapshot).",
      replicatorMachine,
    ),
    section(
      'Circuit breaker (src/machines/circuit-breaker.machine.ts)',
      "Spawned by each replicator for its peer, on the leader's ticks: stops sending to a peer the transport keeps reporting unreachable, lets one trial through after a sleep window.",
      circuitBreakerMachine,
    ),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const doc = statechartsDocument();
  if (process.argv.includes('--write')) {
    writeFileSync(new URL('../docs/statecharts.md', import.meta.url), doc);
    console.log('wrote docs/statecharts.md');
  } else {
    console.log(doc);
  }
}
