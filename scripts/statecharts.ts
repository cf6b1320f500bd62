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
import { machineGraph } from '../src/dashboard/machine-graph.ts';

/** The machine as a mermaid state diagram, from the same graph the dashboard draws. */
export function toMermaid(machine: AnyStateMachine): string {
  const graph = machineGraph(machine);
  const lines = ['stateDiagram-v2'];
  if (graph.initial) lines.push(`  [*] --> ${graph.initial}`);
  const mermaidLabel = (label: string) => label.replace(/:/g, ' ');
  for (const e of graph.edges) lines.push(`  ${e.from} --> ${e.to}: ${mermaidLabel(e.label)}`);
  // Transitions defined on the root apply in every state: one note per target.
  const fromAny = new Map<string, string[]>();
  for (const t of graph.fromAny) fromAny.set(t.to, [...(fromAny.get(t.to) ?? []), t.label]);
  for (const [target, labels] of fromAny) {
    lines.push(`  note right of ${target}`, `    from any state: ${mermaidLabel(labels.join(', or '))}`, '  end note');
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
