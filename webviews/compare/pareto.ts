/**
 * Indices of the points on the Pareto front when both coordinates are to be minimised: a point is
 * on the front when no other point is at least as good in both and strictly better in one.
 */
export function paretoFront(points: { x: number; y: number }[]): number[] {
  const order = points.map((_, i) => i).sort((a, b) => points[a].x - points[b].x || points[a].y - points[b].y);
  const front: number[] = [];
  let bestY = Infinity;
  for (const i of order) {
    if (points[i].y < bestY) {
      front.push(i);
      bestY = points[i].y;
    }
  }
  return front;
}
