// The nine mouth shapes of the local avatar (Rhubarb's A–H and X) as numbers that can be
// blended, and the SVG geometry drawn from them. Blending the numbers (not swapping drawings)
// is what makes the transitions smooth.

/** Parameters of one mouth pose, in face units (the face is drawn in a 400×400 box). */
export const SHAPES = Object.freeze({
  // Rest: lips together, relaxed.
  X: { w: 34, open: 0, round: 0, teethU: 0, teethL: 0, tongue: 0, lip: 7, bite: 0 },
  // Closed, pressed lips (P, B, M).
  A: { w: 32, open: 0, round: 0, teethU: 0, teethL: 0, tongue: 0, lip: 5, bite: 0 },
  // Slightly open, clenched teeth (most consonants, "ee").
  B: { w: 37, open: 6, round: 0, teethU: 1, teethL: 1, tongue: 0, lip: 7, bite: 0 },
  // Open (eh, ae).
  C: { w: 37, open: 15, round: 0.05, teethU: 0.8, teethL: 0.35, tongue: 0.25, lip: 7, bite: 0 },
  // Wide open (aa).
  D: { w: 39, open: 27, round: 0.1, teethU: 0.7, teethL: 0.25, tongue: 0.35, lip: 7, bite: 0 },
  // Slightly rounded (ao, er).
  E: { w: 29, open: 14, round: 0.5, teethU: 0.35, teethL: 0.1, tongue: 0.2, lip: 8, bite: 0 },
  // Puckered (uw, ow, w).
  F: { w: 20, open: 7, round: 1, teethU: 0, teethL: 0, tongue: 0, lip: 9, bite: 0 },
  // Upper teeth on the lower lip (f, v).
  G: { w: 35, open: 3, round: 0, teethU: 1, teethL: 0, tongue: 0, lip: 6, bite: 1 },
  // Tongue raised behind the teeth (long l).
  H: { w: 35, open: 15, round: 0.05, teethU: 0.75, teethL: 0.3, tongue: 1, lip: 7, bite: 0 },
});

export const SHAPE_NAMES = Object.freeze(Object.keys(SHAPES));
const KEYS = Object.keys(SHAPES.X);

/** A fresh, mutable copy of a shape's parameters. */
export function poseOf(name) {
  return { ...(SHAPES[name] || SHAPES.X) };
}

/** Move ``pose`` toward ``target`` by the fraction ``k`` (0 = stay, 1 = arrive). */
export function blendToward(pose, target, k) {
  for (const key of KEYS) pose[key] += (target[key] - pose[key]) * k;
  return pose;
}

const f = (n) => n.toFixed(1);

/**
 * SVG path data for a pose, with the mouth's centre (where the lips meet) at (cx, cy).
 * Returns the upper lip, the lower lip, the mouth opening and the line between the lips,
 * plus the teeth and tongue placement inside the opening.
 */
export function mouthGeometry(pose, cx, cy) {
  const w = pose.w;
  const open = Math.max(0, pose.open);
  const wi = Math.max(4, w - 3);
  // A rounder mouth pulls its curves' control points toward the corners.
  const a = 0.55 + 0.35 * pose.round;
  const upperPeak = cy - open * 0.35;
  const lowerPeak = cy + open * 0.65;
  // A cubic whose two control points sit at y = h peaks at 0.75 h.
  const upperCtrl = cy - (open * 0.35) / 0.75;
  const lowerCtrl = cy + (open * 0.65) / 0.75;
  const top = upperPeak - pose.lip;
  const bottomCtrl = cy + (open * 0.65 + pose.lip * 1.35) / 0.75;
  const left = cx - w - 2;
  const right = cx + w + 2;
  const innerUpper = `M${f(cx - wi)} ${f(cy)} C${f(cx - wi * a)} ${f(upperCtrl)} ${f(cx + wi * a)} ${f(upperCtrl)} ${f(cx + wi)} ${f(cy)}`;
  const upperLip =
    `M${f(left)} ${f(cy)} ` +
    `C${f(cx - w * 0.8)} ${f(top + 3)} ${f(cx - w * 0.45)} ${f(top - 2)} ${f(cx - w * 0.18)} ${f(top - 1)} ` +
    `Q${f(cx)} ${f(top + 3)} ${f(cx + w * 0.18)} ${f(top - 1)} ` +
    `C${f(cx + w * 0.45)} ${f(top - 2)} ${f(cx + w * 0.8)} ${f(top + 3)} ${f(right)} ${f(cy)} ` +
    `L${f(cx + wi)} ${f(cy)} C${f(cx + wi * a)} ${f(upperCtrl)} ${f(cx - wi * a)} ${f(upperCtrl)} ${f(cx - wi)} ${f(cy)} Z`;
  const lowerLip =
    `M${f(left)} ${f(cy)} L${f(cx - wi)} ${f(cy)} ` +
    `C${f(cx - wi * a)} ${f(lowerCtrl)} ${f(cx + wi * a)} ${f(lowerCtrl)} ${f(cx + wi)} ${f(cy)} ` +
    `L${f(right)} ${f(cy)} C${f(cx + w * 0.7)} ${f(bottomCtrl)} ${f(cx - w * 0.7)} ${f(bottomCtrl)} ${f(left)} ${f(cy)} Z`;
  const opening =
    `${innerUpper} C${f(cx + wi * a)} ${f(lowerCtrl)} ${f(cx - wi * a)} ${f(lowerCtrl)} ${f(cx - wi)} ${f(cy)} Z`;
  return {
    upperLip,
    lowerLip,
    opening,
    lipLine: innerUpper,
    upperTeeth: { x: cx - wi * 0.8, y: upperPeak - 2, width: wi * 1.6, height: 2 + 7 * pose.teethU },
    lowerTeeth: {
      x: cx - wi * 0.7,
      y: lowerPeak - 6 * pose.teethL,
      width: wi * 1.4,
      height: 2 + 6 * pose.teethL,
    },
    tongue: {
      cx,
      cy: lowerPeak - open * 0.2 - pose.tongue * open * 0.45,
      rx: wi * 0.55,
      ry: Math.max(1, open * 0.3 + pose.tongue * 3),
    },
    bite: { x: cx - w * 0.55, y: cy - 1, width: w * 1.1, height: 5, opacity: pose.bite },
  };
}
