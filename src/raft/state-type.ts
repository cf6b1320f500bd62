/**
 * The role a node plays (Raft §5.1, plus the PreVote pre-candidate of thesis §9.6).
 * The values are the state names of the role statechart, so `status().raftState` and the
 * inspector show the same words.
 */
export const StateType = {
  Follower: 'follower',
  PreCandidate: 'preCandidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

/** Volatile state that is useful for logging and for users, and is never persisted. */
export interface SoftState {
  readonly lead: number;
  readonly raftState: StateType;
}
