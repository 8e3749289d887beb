// The local avatar: a 2D face drawn in SVG. It breathes, blinks, moves its head slightly and
// blends its mouth toward whatever shape it is told; *when* a shape is due is decided by the
// lip-sync driver on the audio clock, not here.

import { blendToward, mouthGeometry, poseOf } from "./mouth-shapes.js";

const SVG = "http://www.w3.org/2000/svg";
const MOUTH_X = 200;
const MOUTH_Y = 268;
// Time constant of the mouth's blend toward its target: short enough to read every shape
// (Rhubarb's shortest is 70 ms), long enough not to snap.
const MOUTH_TAU_MS = 22;
let faces = 0; // SVG ids must be unique in the document: one suffix per face

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

/** Set an attribute only when its text changes: an unchanged face costs no repaint. */
function setAttr(node, name, value) {
  const key = `_${name}`;
  if (node[key] === value) return;
  node[key] = value;
  node.setAttribute(name, value);
}

/** Round ``x`` to a multiple of ``step`` (motion below a fraction of a pixel is not drawn). */
function quantize(x, step) {
  return Math.round(x / step) * step;
}

/** Slow, smooth pseudo-random motion: a sum of incommensurate sines. */
function drift(t, seed) {
  return (
    Math.sin(t * 0.00047 + seed) * 0.6 +
    Math.sin(t * 0.00111 + seed * 2.3) * 0.3 +
    Math.sin(t * 0.00213 + seed * 4.1) * 0.1
  );
}

export class Face {
  /** Draws the face into ``root`` (replacing its content). */
  constructor(root, { reducedMotion = false } = {}) {
    this.root = root;
    this.uid = ++faces;
    this.reducedMotion = reducedMotion;
    this.detail = "high";
    this.speaking = false;
    this.pose = poseOf("X");
    this.target = poseOf("X");
    this.targetName = "X";
    this.nextBlinkAt = 0;
    this.blinkStartedAt = -1;
    this.gaze = { x: 0, y: 0, tx: 0, ty: 0, nextAt: 0 };
    this._build();
  }

  _build() {
    // Two layers: the body, and the head above it. Head motion and breathing move the layers
    // with CSS transforms (the compositor moves them without repainting); only what really
    // changes inside the head (mouth, eyelids, irises) is repainted each frame.
    const bodySvg = el("svg", { viewBox: "0 300 400 100", class: "face-layer face-body", "aria-hidden": "true", focusable: "false" });
    el("path", { d: "M70 400 C80 330 140 318 200 318 C260 318 320 330 330 400 Z", fill: "#2f5d8a" }, bodySvg);
    el("path", { d: "M168 300 L232 300 L236 336 C220 348 180 348 164 336 Z", fill: "#d49a74" }, bodySvg);
    el("path", { d: "M160 330 L200 362 L240 330 L232 322 L200 346 L168 322 Z", fill: "#e9eef5" }, bodySvg);
    this.body = bodySvg;

    const headLayer = document.createElement("div");
    headLayer.className = "face-layer face-head";
    const svg = el("svg", { viewBox: "0 0 400 400", "aria-hidden": "true", focusable: "false" }, headLayer);
    const defs = el("defs", {}, svg);
    this.defs = defs;
    const clip = el("clipPath", { id: `mouth-clip-${this.uid}` }, defs);
    this.clipPath = el("path", { d: "" }, clip);
    const shade = el("radialGradient", { id: `skin-shade-${this.uid}`, cx: "50%", cy: "42%", r: "62%" }, defs);
    el("stop", { offset: "0%", "stop-color": "#f1c7a5" }, shade);
    el("stop", { offset: "100%", "stop-color": "#d9a07a" }, shade);

    this.head = el("g", { class: "head" }, svg);
    el("path", { d: "M96 176 C92 250 104 300 120 330 L150 326 C128 286 118 236 122 180 Z", fill: "#3b2a22" }, this.head);
    el("path", { d: "M304 176 C308 250 296 300 280 330 L250 326 C272 286 282 236 278 180 Z", fill: "#3b2a22" }, this.head);
    el("ellipse", { cx: 94, cy: 200, rx: 16, ry: 26, fill: "#d9a07a" }, this.head);
    el("ellipse", { cx: 306, cy: 200, rx: 16, ry: 26, fill: "#d9a07a" }, this.head);
    el("path", { d: "M98 180 C96 90 150 62 200 62 C250 62 304 90 302 180 C302 262 262 318 200 318 C138 318 98 262 98 180 Z", fill: `url(#skin-shade-${this.uid})` }, this.head);
    el("path", { d: "M92 190 C80 88 142 44 204 46 C268 48 320 92 308 190 C300 140 286 112 250 100 C214 126 154 124 120 112 C104 130 96 156 92 190 Z", fill: "#3b2a22" }, this.head);
    this.cheeks = el("g", { class: "cheeks" }, this.head);
    el("ellipse", { cx: 140, cy: 236, rx: 20, ry: 11, fill: "#e88f86", opacity: 0.28 }, this.cheeks);
    el("ellipse", { cx: 260, cy: 236, rx: 20, ry: 11, fill: "#e88f86", opacity: 0.28 }, this.cheeks);

    this.brows = el("g", {}, this.head);
    el("path", { d: "M132 160 Q152 150 174 156", stroke: "#3b2a22", "stroke-width": 5, fill: "none", "stroke-linecap": "round" }, this.brows);
    el("path", { d: "M226 156 Q248 150 268 160", stroke: "#3b2a22", "stroke-width": 5, fill: "none", "stroke-linecap": "round" }, this.brows);

    this.eyes = [this._eye(154, 190), this._eye(246, 190)];

    el("path", { d: "M200 200 C198 216 194 226 194 232 C198 238 206 238 208 232", stroke: "#b87a58", "stroke-width": 3.5, fill: "none", "stroke-linecap": "round" }, this.head);

    const mouth = el("g", { class: "mouth" }, this.head);
    this.opening = el("path", { fill: "#5a1f25" }, mouth);
    const inside = el("g", { "clip-path": `url(#mouth-clip-${this.uid})` }, mouth);
    this.tongue = el("ellipse", { fill: "#c4575f" }, inside);
    this.upperTeeth = el("rect", { fill: "#f7f4ee", rx: 2 }, inside);
    this.lowerTeeth = el("rect", { fill: "#ece7de", rx: 2 }, inside);
    this.lowerLip = el("path", { fill: "#b6525a" }, mouth);
    this.bite = el("rect", { fill: "#f7f4ee", rx: 2 }, mouth);
    this.upperLip = el("path", { fill: "#a8474f" }, mouth);
    this.lipLine = el("path", { stroke: "#6e2a31", "stroke-width": 1.6, fill: "none", "stroke-linecap": "round" }, mouth);

    const rig = document.createElement("div");
    rig.className = "face";
    rig.append(bodySvg, headLayer);
    this.root.replaceChildren(rig);
    this.headLayer = headLayer;
    // Pixels per face unit, kept up to date without reading layout in the animation loop.
    this.unit = 1;
    new ResizeObserver(([entry]) => {
      this.unit = entry.contentRect.width / 400 || 1;
    }).observe(headLayer);
    this._drawMouth();
  }

  _eye(cx, cy) {
    const group = el("g", {}, this.head);
    const clip = el("clipPath", { id: `eye-clip-${cx}-${this.uid}` }, this.defs);
    el("ellipse", { cx, cy, rx: 19, ry: 13 }, clip);
    el("ellipse", { cx, cy, rx: 19, ry: 13, fill: "#fbfaf7" }, group);
    const iris = el("g", {}, group);
    el("circle", { cx, cy, r: 9, fill: "#4b6e8f" }, iris);
    el("circle", { cx, cy, r: 4.5, fill: "#1a1a1a" }, iris);
    el("circle", { cx: cx + 3, cy: cy - 3, r: 2, fill: "#ffffff" }, iris);
    // The eyelid: a skin-coloured shape that slides down over the eye when it blinks.
    const lid = el("path", { d: "", fill: "#e3b08c", "clip-path": `url(#eye-clip-${cx}-${this.uid})` }, group);
    el("path", { d: `M${cx - 20} ${cy} Q${cx} ${cy - 17} ${cx + 20} ${cy}`, stroke: "#3b2a22", "stroke-width": 2.2, fill: "none" }, group);
    return { cx, cy, iris, lid };
  }

  /** The shape the mouth blends toward from now on (A–H or X). */
  setTarget(name) {
    if (name === this.targetName) return;
    this.targetName = name;
    this.target = poseOf(name);
  }

  setSpeaking(speaking) {
    this.speaking = speaking;
  }

  /** ``high``/``auto``: everything; ``medium``: no shading; ``low``: no idle motion either. */
  setDetail(level) {
    this.detail = level === "auto" ? "high" : level;
    this.cheeks.style.display = this.detail === "high" ? "" : "none";
  }

  setReducedMotion(reduced) {
    this.reducedMotion = reduced;
  }

  /** Advance the animation to ``now`` (ms, the rAF clock) after ``dt`` ms. */
  render(now, dt) {
    const k = this.reducedMotion ? 1 : 1 - Math.exp(-Math.max(0, dt) / MOUTH_TAU_MS);
    blendToward(this.pose, this.target, k);
    this._drawMouth();
    this._animateIdle(now);
  }

  _drawMouth() {
    const g = mouthGeometry(this.pose, MOUTH_X, MOUTH_Y);
    setAttr(this.opening, "d", g.opening);
    setAttr(this.clipPath, "d", g.opening);
    setAttr(this.upperLip, "d", g.upperLip);
    setAttr(this.lowerLip, "d", g.lowerLip);
    setAttr(this.lipLine, "d", g.lipLine);
    for (const [node, box] of [[this.upperTeeth, g.upperTeeth], [this.lowerTeeth, g.lowerTeeth], [this.bite, g.bite]]) {
      setAttr(node, "x", box.x.toFixed(1));
      setAttr(node, "y", box.y.toFixed(1));
      setAttr(node, "width", box.width.toFixed(1));
      setAttr(node, "height", box.height.toFixed(1));
    }
    setAttr(this.bite, "opacity", g.bite.opacity.toFixed(2));
    setAttr(this.tongue, "cx", g.tongue.cx.toFixed(1));
    setAttr(this.tongue, "cy", g.tongue.cy.toFixed(1));
    setAttr(this.tongue, "rx", g.tongue.rx.toFixed(1));
    setAttr(this.tongue, "ry", g.tongue.ry.toFixed(1));
  }

  _animateIdle(now) {
    const still = this.reducedMotion || this.detail === "low";
    const amount = this.speaking ? 1.6 : 1;
    const breath = still ? 0 : Math.sin((now / 4200) * 2 * Math.PI);
    const tilt = still ? 0 : drift(now, 1.7) * 1.3 * amount;
    const dx = still ? 0 : drift(now, 4.2) * 2.5 * amount;
    const dy = still ? 0 : drift(now, 7.9) * 1.5 * amount + breath * 1.2;
    // One face unit is a quarter of a percent of the (square) head layer and one percent of
    // the body layer (the face's lower quarter); steps below ~0.3 px
    // are not drawn, so slow motion repaints a few times a second, not every frame.
    // Whole device pixels and no rotation: the compositor then moves the layers by copying
    // them, where a rotated or sub-pixel layer would be resampled on every change.
    const unit = this.unit;
    const px = (x) => Math.round(x * unit * devicePixelRatio) / devicePixelRatio;
    const body = `translateY(${px(breath * 1.5)}px)`;
    const head = `translate(${px(dx)}px, ${px(dy)}px)`;
    if (this.bodyTransform !== body) this.body.style.transform = this.bodyTransform = body;
    if (this.headTransform !== head) this.headLayer.style.transform = this.headTransform = head;
    this._blink(now);
    this._look(now, still);
  }

  _blink(now) {
    if (this.nextBlinkAt === 0) this.nextBlinkAt = now + 1500 + Math.random() * 3000;
    if (this.blinkStartedAt < 0 && now >= this.nextBlinkAt) this.blinkStartedAt = now;
    let closed = 0;
    if (this.blinkStartedAt >= 0) {
      const t = now - this.blinkStartedAt;
      closed = t < 70 ? t / 70 : t < 180 ? 1 - (t - 70) / 110 : 0;
      if (t >= 180) {
        this.blinkStartedAt = -1;
        this.nextBlinkAt = now + 2200 + Math.random() * 4200;
      }
    }
    for (const eye of this.eyes) {
      const y = eye.cy - 15;
      const bottom = (y + closed * 29).toFixed(1);
      setAttr(eye.lid, "d", `M${eye.cx - 21} ${y} L${eye.cx + 21} ${y} L${eye.cx + 21} ${bottom} L${eye.cx - 21} ${bottom} Z`);
    }
  }

  _look(now, still) {
    const gaze = this.gaze;
    if (!still && now >= gaze.nextAt) {
      gaze.tx = (Math.random() - 0.5) * (this.speaking ? 3 : 6);
      gaze.ty = (Math.random() - 0.5) * 3;
      gaze.nextAt = now + 1200 + Math.random() * 2600;
    }
    if (still) gaze.tx = gaze.ty = 0;
    gaze.x += (gaze.tx - gaze.x) * 0.25;
    gaze.y += (gaze.ty - gaze.y) * 0.25;
    const move = `translate(${gaze.x.toFixed(1)} ${gaze.y.toFixed(1)})`;
    for (const eye of this.eyes) setAttr(eye.iris, "transform", move);
  }
}
