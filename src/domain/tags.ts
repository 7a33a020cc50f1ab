/** Tag names are compared exactly after trimming; empty names are not tags. */
export function normaliseTag(name: string): string {
  return name.trim();
}

export function normaliseTags(names: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const name of names) {
    const tag = normaliseTag(name);
    if (tag) out.add(tag);
  }
  return [...out].sort();
}

export function tagDiff(before: readonly string[], after: readonly string[]): { added: string[]; removed: string[] } {
  const was = new Set(before);
  const now = new Set(after);
  return {
    added: [...now].filter((t) => !was.has(t)).sort(),
    removed: [...was].filter((t) => !now.has(t)).sort(),
  };
}

export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  const { added, removed } = tagDiff(a, b);
  return added.length === 0 && removed.length === 0;
}
