/** Where the audit trail keeps its files under <dataDir>/audit/. */
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
/** Stored subtree hashes (tree-store.ts). */
export const TREE_DIR = 'tree';
