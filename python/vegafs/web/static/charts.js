// The pictures of an analysis, drawn as SVG from its summary: kinds, extensions and owners as
// bars, sizes and ages as histograms, the largest directories as a squarified treemap.

import { bytes, count, el, svg } from "./dom.js";

const WIDTH = 640;
const BAR = 20;
const LABEL = 150;

export function analysisCharts(summary) {
  const extensions = [...summary.by_extension].sort((a, b) => b.bytes - a.bytes).slice(0, 15);
  return el("div", { class: "charts" },
    chart("chart-kinds", "Kinds (bytes)", bars(summary.by_kind.map((k) => ({
      label: k.kind, value: k.bytes, note: `${bytes(k.bytes)} · ${count(k.files)} files` })))),
    chart("chart-extensions", "Extensions (bytes, largest 15)", bars(extensions.map((x) => ({
      label: x.extension ? `.${x.extension}` : "(none)", value: x.bytes,
      note: `${bytes(x.bytes)} · ${count(x.files)} files` })))),
    chart("chart-sizes", "File sizes (files)", histogram(summary.size_histogram.map((b) => ({
      label: b.max_bytes === null ? `≥ ${bytes(b.min_bytes)}` : `< ${bytes(b.max_bytes)}`,
      value: b.files, note: `${count(b.files)} files · ${bytes(b.bytes)}` })))),
    chart("chart-ages", "Ages (files, by modification time)", histogram(summary.age_histogram.map(
      (b) => ({ label: b.bucket, value: b.files, note: `${count(b.files)} files · ${bytes(b.bytes)}` })))),
    chart("chart-owners", "Owners (bytes)", bars(summary.by_owner.map((o) => ({
      label: o.user ?? `uid ${o.uid}`, value: o.bytes,
      note: `${bytes(o.bytes)} · ${count(o.files)} files` })))),
    chart("chart-treemap", "Largest directories", treemap(summary.largest_dirs, summary.roots)),
    chart("largest-files", "Largest files", el("table", { class: "largest" },
      el("tbody", {}, summary.largest_files.map((f) =>
        el("tr", {}, el("td", {}, f.path), el("td", { class: "num" }, bytes(f.bytes))))))));
}

const chart = (id, title, picture) => el("figure", { id, class: "chart" },
  el("figcaption", {}, title), picture);

// Horizontal bars: a label, a bar as long as the value, the value's text.
function bars(rows) {
  const most = Math.max(1, ...rows.map((r) => r.value));
  const room = WIDTH - LABEL - 170;
  const picture = svg("svg", { viewBox: `0 0 ${WIDTH} ${rows.length * BAR + 4}`, role: "img" });
  rows.forEach((r, i) => {
    const y = i * BAR + 2;
    picture.append(
      svg("text", { x: LABEL - 6, y: y + 14, "text-anchor": "end", class: "label" }, clip(r.label, 22)),
      svg("rect", { x: LABEL, y: y + 2, width: Math.max(1, (r.value / most) * room), height: BAR - 4,
        class: "bar" }, svg("title", {}, `${r.label}: ${r.note}`)),
      svg("text", { x: LABEL + room + 6, y: y + 14, class: "value" }, r.note));
  });
  return picture;
}

// Vertical bars side by side, one per bucket, labelled below.
function histogram(buckets) {
  const height = 160;
  const most = Math.max(1, ...buckets.map((b) => b.value));
  const step = WIDTH / Math.max(1, buckets.length);
  const picture = svg("svg", { viewBox: `0 0 ${WIDTH} ${height + 40}`, role: "img" });
  buckets.forEach((b, i) => {
    const h = (b.value / most) * height;
    const x = i * step;
    picture.append(
      svg("rect", { x: x + 3, y: height - h + 14, width: step - 6, height: Math.max(h, 0.5),
        class: "bar" }, svg("title", {}, `${b.label}: ${b.note}`)),
      svg("text", { x: x + step / 2, y: height - h + 10, "text-anchor": "middle", class: "value" },
        b.value ? count(b.value) : ""),
      svg("text", { x: x + step / 2, y: height + 30, "text-anchor": "middle", class: "label" },
        clip(b.label, Math.floor(step / 6))));
  });
  return picture;
}

// The largest directories nested in one another: each inside the nearest listed ancestor, its
// area its share of that ancestor's bytes (the rest of the ancestor is its own files).
// Tiles are named relative to the directory they are drawn in (the outermost: to their root).
function treemap(dirs, roots) {
  const width = 1000;
  const height = 420;
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const nodes = [...dirs].sort((a, b) => a.path.length - b.path.length)
    .map((d) => ({ ...d, children: [] }));
  const tops = [];
  for (const node of nodes) {
    const parent = nodes.filter((p) => p !== node && under(node.path, p.path))
      .reduce((best, p) => (!best || p.path.length > best.path.length ? p : best), null);
    (parent ? parent.children : tops).push(node);
    const root = roots.find((r) => under(node.path, r));
    const base = parent ? parent.path : root;
    node.name = base ? node.path.slice(base.length).replace(/^\//, "") : node.path;
  }
  const draw = (items, rect, depth) => {
    for (const { item, box } of squarify(items, rect)) {
      if (item.rest) continue;
      picture.append(svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h,
        class: `dir depth-${Math.min(depth, 4)}`, "data-path": item.path },
        svg("title", {}, `${item.path}: ${bytes(item.bytes)}`)));
      if (box.w > 40 && box.h > 14) {
        picture.append(svg("text", { x: box.x + 3, y: box.y + 11, class: "tile" },
          clip(`${item.name} ${bytes(item.bytes)}`, Math.floor(box.w / 6.5))));
      }
      const inner = { x: box.x + 2, y: box.y + 14, w: box.w - 4, h: box.h - 16 };
      if (item.children.length && inner.w > 4 && inner.h > 4) {
        const used = item.children.reduce((s, c) => s + c.bytes, 0);
        const rest = Math.max(0, item.bytes - used);
        draw([...item.children, ...(rest ? [{ rest: true, bytes: rest }] : [])], inner, depth + 1);
      }
    }
  };
  draw(tops, { x: 0, y: 0, w: width, h: height }, 0);
  return picture;
}

const under = (path, dir) => path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

// Squarified treemap (Bruls, Huizing, van Wijk): rows of tiles kept as close to square as
// possible. Returns [{item, box}] covering `rect`, areas proportional to item.bytes.
export function squarify(items, rect) {
  const total = items.reduce((s, i) => s + i.bytes, 0);
  if (total <= 0) return items.map((item) => ({ item, box: { ...rect, w: 0, h: 0 } }));
  const scale = (rect.w * rect.h) / total;
  const rest = [...items].sort((a, b) => b.bytes - a.bytes)
    .map((item) => ({ item, area: item.bytes * scale }));
  const out = [];
  let row = [];
  let free = { ...rect };
  const worst = (tiles, side) => {
    const sum = tiles.reduce((s, t) => s + t.area, 0);
    const most = Math.max(...tiles.map((t) => t.area));
    const least = Math.min(...tiles.map((t) => t.area));
    return least <= 0 ? Infinity : Math.max((side * side * most) / (sum * sum), (sum * sum) / (side * side * least));
  };
  const place = () => {
    const sum = row.reduce((s, t) => s + t.area, 0);
    if (free.w >= free.h) { // a column at the left
      const w = free.h > 0 ? sum / free.h : 0;
      let y = free.y;
      for (const t of row) {
        const h = w > 0 ? t.area / w : 0;
        out.push({ item: t.item, box: { x: free.x, y, w, h } });
        y += h;
      }
      free = { x: free.x + w, y: free.y, w: free.w - w, h: free.h };
    } else { // a row at the top
      const h = free.w > 0 ? sum / free.w : 0;
      let x = free.x;
      for (const t of row) {
        const w = h > 0 ? t.area / h : 0;
        out.push({ item: t.item, box: { x, y: free.y, w, h } });
        x += w;
      }
      free = { x: free.x, y: free.y + h, w: free.w, h: free.h - h };
    }
    row = [];
  };
  for (const tile of rest) {
    const side = Math.min(free.w, free.h);
    if (row.length && worst([...row, tile], side) > worst(row, side)) place();
    row.push(tile);
  }
  if (row.length) place();
  return out;
}

const clip = (text, most) => (text.length > most ? `${text.slice(0, Math.max(1, most - 1))}…` : text);
