// The rendered page as HTML for agentkit's extractor, keeping only text the browser paints.
//
// Runs through CDP in an isolated world (its own globals and DOM wrappers), so nothing the page's scripts patch
// (getComputedStyle, outerHTML, Array.prototype...) reaches this code, and it changes nothing in the page, so no
// page code (custom element callbacks) runs while it reads. It walks the flat tree (open shadow roots, slots
// resolved) and writes its own serialization: no raw-text breakout (a <style> whose text holds "</style><p>"
// stays inside the style), no scripts, templates, frames or comments.
//
// Text is left out when the browser does not paint it: its element has no box (display:none on it or an
// ancestor, content-visibility:hidden, not slotted), visibility other than visible, opacity multiplied down the
// tree below 0.1, font size below 2px, fill colour with alpha below 0.1 or a contrast ratio below 1.1 against the
// solid background behind it, or no laid-out box of at least 1x1px inside the page and inside every ancestor that
// clips it (overflow hidden/clip, clip:rect(), clip-path that leaves no area). Form fields with no box are left
// out too. Closed <details> count as shown (a click away), as in the HTML extractor. These are the rules of
// agentkit.loaders.visibility, judged on computed styles and real layout, so external and script-built
// stylesheets count. Bounds: at most maxNodes nodes are visited (the rest is cut: fail closed) and the output
// stops at maxChars characters.
(maxChars, maxNodes) => {
  const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
  const DROP = new Set(["script", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "svg", "math",
    "canvas", "video", "audio", "noembed", "noframes", "link", "base"]);
  const NAME = /^[a-z][a-z0-9-]*$/;
  const ATTR = /^[a-zA-Z_:][-a-zA-Z0-9_:.]*$/;
  const sx = window.scrollX, sy = window.scrollY;
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const escAttr = (s) => esc(s).replace(/"/g, "&quot;");
  const rgba = (s) => {
    const m = /^rgba?\(([^)]*)\)$/.exec(s || "");
    if (!m) return null;
    const v = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return v.length >= 3 && v.every((x) => !Number.isNaN(x)) ? [v[0], v[1], v[2], v.length > 3 ? v[3] : 1] : null;
  };
  const over = (top, bottom) => [0, 1, 2].map((k) => top[3] * top[k] + (1 - top[3]) * bottom[k]);
  const luminance = (c) => {
    const lin = c.map((x) => { x /= 255; return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  };
  const contrast = (a, b) => { const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
  const meet = (a, b) => (a ? [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])] : b);
  const inClosedDetails = (el) => el.closest("details:not([open])") !== null;

  // Does the element have a box? display:contents elements have none of their own: ask the nearest one that does.
  const boxed = (el) => {
    let box = el;
    while (box && getComputedStyle(box).display === "contents") box = box.parentElement;
    return !box || inClosedDetails(box) || box.checkVisibility({ opacityProperty: true, visibilityProperty: false });
  };

  // What an element passes on to its flat-tree children: the area they may paint in, opacity, background.
  const frameOf = (el, parent) => {
    const cs = getComputedStyle(el);
    let clip = parent.clip;
    const rootish = el === document.documentElement || el === document.body;  // the viewport scrolls these
    const clipX = !rootish && (cs.overflowX === "hidden" || cs.overflowX === "clip");
    const clipY = !rootish && (cs.overflowY === "hidden" || cs.overflowY === "clip");
    const positioned = cs.position === "absolute" || cs.position === "fixed";
    const clipRect = positioned && cs.clip.startsWith("rect(");
    if (clipX || clipY || clipRect) {
      const r = el.getBoundingClientRect();
      const [l, t, rt, b] = [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy];
      if (clipX || clipY) clip = meet(clip, [clipX ? l : -Infinity, clipY ? t : -Infinity, clipX ? rt : Infinity, clipY ? b : Infinity]);
      if (clipRect) {  // rect(top, right, bottom, left): offsets from the box's top left corner; auto: the box's edge
        const v = cs.clip.slice(5, -1).split(/[\s,]+/).map((x) => (x === "auto" ? NaN : parseFloat(x)));
        clip = meet(clip, [Number.isNaN(v[3]) ? l : l + v[3], Number.isNaN(v[0]) ? t : t + v[0], Number.isNaN(v[1]) ? rt : l + v[1], Number.isNaN(v[2]) ? b : t + v[2]]);
      }
    }
    const inset = /^inset\(\s*([\d.]+)%\s*\)$/.exec(cs.clipPath);
    if ((inset && parseFloat(inset[1]) >= 50) || /^circle\(\s*0(px)?\s/.test(cs.clipPath + " ")) clip = [0, 0, 0, 0];
    const opacity = parent.opacity * (parseFloat(cs.opacity) || 0);
    let bg = parent.bg;
    const own = rgba(cs.backgroundColor);
    if (cs.backgroundImage !== "none" || cs.backgroundClip === "text" || cs.webkitBackgroundClip === "text") bg = null;
    else if (own && own[3] > 0 && bg) bg = over(own, bg);
    else if (own && own[3] >= 1) bg = own.slice(0, 3);
    return { clip, opacity, bg };
  };

  const textShown = (node, el, frame) => {
    const cs = getComputedStyle(el);
    if (cs.visibility !== "visible" || parseFloat(cs.fontSize) < 2 || frame.opacity < 0.1) return false;
    const fill = rgba(cs.webkitTextFillColor) || rgba(cs.color);
    if (fill && fill[3] < 0.1) return false;
    if (fill && frame.bg && contrast(over(fill, frame.bg), frame.bg) < 1.1) return false;
    if (!boxed(el)) return false;
    if (inClosedDetails(el)) return true;  // not laid out: no geometry to judge
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      const [l, t, rt, b] = [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy];
      if (r.width < 1 || r.height < 1 || rt <= 0 || b <= 0) continue;  // no area, or pushed off the page
      const c = frame.clip;
      if (c && (Math.min(rt, c[2]) - Math.max(l, c[0]) < 1 || Math.min(b, c[3]) - Math.max(t, c[1]) < 1)) continue;
      return true;
    }
    return false;
  };

  const childrenOf = (node) => {
    if (node.shadowRoot) return node.shadowRoot.childNodes;  // open shadow roots (closed ones cannot be read)
    if (node.localName === "slot") {
      const assigned = node.assignedNodes({ flatten: true });
      return assigned.length ? assigned : node.childNodes;
    }
    return node.childNodes;
  };

  const out = [];
  let size = 0, visits = 0, hidden = 0, cut = false, full = false;
  const emit = (s) => {
    if (size + s.length > maxChars) { out.push(s.slice(0, maxChars - size)); size = maxChars; full = true; return; }
    out.push(s);
    size += s.length;
  };
  if (document.doctype) emit("<!DOCTYPE html>");
  const top = { clip: null, opacity: 1, bg: [255, 255, 255] };
  const stack = document.documentElement ? [[document.documentElement, top, false]] : [];
  while (stack.length && !full) {
    const item = stack.pop();
    if (typeof item === "string") { emit(item); continue; }  // a closing tag
    if (++visits > maxNodes) { cut = true; break; }
    const [node, frame, inBody] = item;
    if (node.nodeType === Node.TEXT_NODE) {
      const parent = node.parentElement;
      if (inBody && parent && node.data.trim() && !textShown(node, parent, frame)) { hidden += 1; continue; }
      emit(esc(node.data));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue;  // comments, processing instructions
    const name = node.localName;
    if (!NAME.test(name) || DROP.has(name)) continue;
    if (name === "style") {
      // Shadow-scoped rules would apply to the whole page once flattened: left out (the browser already judged).
      if (!(node.getRootNode() instanceof ShadowRoot)) emit("<style>" + node.textContent.replace(/<\//g, "<\\/") + "</style>");
      continue;
    }
    if (inBody && name === "input" && !boxed(node)) { hidden += 1; continue; }
    let attrs = "";
    for (const a of node.attributes) if (ATTR.test(a.name)) attrs += " " + a.name + '="' + escAttr(a.value) + '"';
    emit("<" + name + attrs + ">");
    if (VOID.has(name)) continue;
    if (name === "title" || name === "textarea") { emit(esc(node.textContent) + "</" + name + ">"); continue; }
    const body = inBody || name === "body";
    const inner = body || name === "html" ? frameOf(node, frame) : frame;
    stack.push("</" + name + ">");
    const kids = childrenOf(node);
    for (let k = kids.length - 1; k >= 0; k--) stack.push([kids[k], inner, body]);
  }
  return { html: out.join(""), full, cut, hidden, title: document.title, charset: document.characterSet };
}
