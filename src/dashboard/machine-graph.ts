/**
 * A statechart as plain data for the dashboard to draw: its states and the transitions between
 * them with their `EVENT [guard]` labels, read from the XState machine definition (as
 * scripts/statecharts.ts does for docs/statecharts.md), so the picture cannot drift from the code.
 */
import type { AnyStateMachine } from 'xstate';

export interface MachineEdge {
  readonly from: string;
  readonly to: string;
  /** `EVENT [guard]`, or `[guard]` for an eventless (always) transition. */
  readonly label: string;
}

export interface MachineGraph {
  readonly id: string;
  readonly initial: string | undefined;
  /** Top-level states in definition order. */
  readonly states: readonly string[];
  readonly edges: readonly MachineEdge[];
  /** Transitions defined on the root: taken from any state. */
  readonly fromAny: readonly { readonly to: string; readonly label: string }[];
}

interface DefinitionNode {
  key: string;
  states: Record<string, DefinitionNode>;
  transitions: Map<string, { target?: { key: string }[]; guard?: unknown }[]>;
  always?: { target?: { key: string }[]; guard?: unknown }[];
  initial?: { target: { key: string }[] };
}

/** A guard as text: named guards by name, and()/or()/not() spelled out. */
export function guardText(g: unknown): string {
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

export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as DefinitionNode;
  const edges: MachineEdge[] = [];
  for (const [name, state] of Object.entries(root.states)) {
    for (const [event, ts] of state.transitions) {
      for (const t of ts) {
        if (!t.target) continue;
        const g = guardText(t.guard);
        edges.push({ from: name, to: t.target[0]!.key, label: g ? `${event} [${g}]` : event });
      }
    }
    for (const t of state.always ?? []) {
      // An unguarded eventless transition back to its own state changes nothing: not an edge.
      if (!t.target || (t.target[0]!.key === name && !guardText(t.guard))) continue;
      edges.push({ from: name, to: t.target[0]!.key, label: `[${guardText(t.guard)}]` });
    }
  }
  const fromAny: { to: string; label: string }[] = [];
  for (const [event, ts] of root.transitions) {
    for (const t of ts) {
      if (!t.target) continue;
      const g = guardText(t.guard);
      fromAny.push({ to: t.target[0]!.key, label: g ? `${event} [${g}]` : event });
    }
  }
  return { id: machine.id, initial: root.initial?.target?.[0]?.key, states: Object.keys(root.states), edges, fromAny };
}
