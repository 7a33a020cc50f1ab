import { describe, expect, it } from 'vitest';
import { webhookChart } from './chart.js';

describe('webhook chart', () => {
  const minutes = [
    { minute: 0, received: 4, coalesced: 1, rejected: 0 },
    { minute: 60_000, received: 0, coalesced: 0, rejected: 2 },
    { minute: 120_000, received: 10, coalesced: 3, rejected: 0 },
  ];

  it('draws one line per series with a point per minute, scaled to a round maximum', () => {
    const svg = webhookChart(minutes).value;
    const points = (series: string) => new RegExp(`data-series="${series}" points="([^"]+)"`).exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number));
    const received = points('received');
    expect(received).toHaveLength(3);
    // 10 is the top of the scale: the highest point is at the top padding, 0 at the bottom.
    expect(received[2]![1]).toBe(10);
    expect(points('rejected')[0]![1]).toBe(176);
    expect(svg).toContain('aria-label="Webhooks per minute over the last 3 minutes: 14 received, 4 coalesced, 2 rejected"');
    expect(svg).toContain('>00:02</text>');
  });

  it('draws an empty window flat at zero', () => {
    const svg = webhookChart(minutes.map((m) => ({ ...m, received: 0, coalesced: 0, rejected: 0 }))).value;
    expect(svg).toContain('points="36.0,176.0 366.0,176.0 696.0,176.0"');
  });
});
