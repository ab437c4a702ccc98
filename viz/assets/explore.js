// tinygrad_rnn.viz.explore: step through the forward replay and the backward walk of a recorded graph.
// The data (walk-data) is what the engine's backward() reported, step by step; this script only shows it.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('walk-data').textContent);
  const R = D.records, N = R.length, B = D.backward;
  const item = {};  // key -> record or leaf
  R.forEach(function (r, k) { r.index = k; item[r.key] = r; });
  D.leaves.forEach(function (l) { item[l.key] = l; });
  const bstep = {};  // record key -> its backward step (0-based)
  B.forEach(function (s, j) { bstep[s.rec] = j; });

  // ------------------------------------------------------------------ numbers
  function num(x) { return typeof x === 'string' ? Number(x) : x; }
  function fmt(x) {  // 6 significant digits
    x = num(x);
    if (x === 0) return '0';
    if (!isFinite(x)) return String(x);
    const a = Math.abs(x);
    let s = (a >= 1e-4 && a < 1e6) ? x.toPrecision(6) : x.toExponential(5);
    const m = s.match(/^(-?\d+)(\.\d*?)?0*(e[+-]\d+)?$/);
    if (m) s = m[1] + (m[2] && m[2] !== '.' ? m[2] : '') + (m[3] || '');
    return s;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function span(x) { return '<span class="num">' + fmt(x) + '</span>'; }
  function shapeText(s) { return '(' + s.join(', ') + (s.length === 1 ? ',' : '') + ')'; }
  // an encoded array: signed values (a matrix for 2-D), or a summary for large ones
  function arr(e) {
    if (!e) return '<span class="summary">—</span>';
    if (!e.v) {
      return '<span class="summary">shape ' + shapeText(e.s) + ': min ' + span(e.min) + ' max ' + span(e.max) +
        ' ‖·‖ ' + span(e.n) + '; first ' + e.head.map(span).join(', ') + '</span>';
    }
    const s = e.s.filter(function (d) { return d !== 1; });
    if (s.length === 2 && e.v.length > 1) {
      let rows = '';
      for (let i = 0; i < s[0]; i++) {
        rows += '<tr>' + e.v.slice(i * s[1], (i + 1) * s[1]).map(function (x) { return '<td>' + span(x) + '</td>'; }).join('') + '</tr>';
      }
      return '<table class="mat" title="shape ' + shapeText(e.s) + '">' + rows + '</table>';
    }
    if (e.v.length === 1) return span(e.v[0]);
    return '[' + e.v.map(span).join(', ') + ']' + (e.s.length > 1 ? ' <span class="summary">shape ' + shapeText(e.s) + '</span>' : '');
  }
  function label(key) {  // a value's name, else how it was made: matmul(h_3, ·)
    const x = item[key];
    if (!x) return 'a constant';
    if (x.name) return x.name;
    if (x.op === 'transpose' && x.inputs.length === 1 && x.inputs[0] && item[x.inputs[0]].name) return item[x.inputs[0]].name + 'ᵀ';
    return x.op + '(' + x.inputs.map(function (k) { return k && item[k].name ? item[k].name : '·'; }).join(', ') + ') #' + x.seq;
  }
  function tagChips(r) {
    let out = '';
    Object.keys(r.tags).forEach(function (k) {
      const colour = (k === D.colorTag && D.legendColours[r.tags[k]]) || '#eeeeee';
      const meaning = k === D.colorTag && D.legend[r.tags[k]] ? ' ' + esc(D.legend[r.tags[k]]) : '';
      out += ' <span class="tagchip" style="background:' + colour + '">' + esc(k) + ' ' + esc(r.tags[k]) + meaning + '</span>';
    });
    return out;
  }
  function opText(r) {
    const kw = Object.keys(r.kwargs).map(function (k) { return k + '=' + r.kwargs[k]; });
    return '<code>' + esc(r.op) + '</code>' + (kw.length ? ' <code>' + esc(kw.join(', ')) + '</code>' : '');
  }

  // ------------------------------------------------------------------ the drawing
  const svg = document.getElementById('graph');
  const nodeEl = {}, edgesInto = {}, edgesOutOf = {};
  svg.querySelectorAll('g.node').forEach(function (g) {
    const t = g.querySelector('title');
    if (!t) return;
    nodeEl[t.textContent] = g;
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', 'node ' + (g.textContent || '').replace(/\s+/g, ' ').trim());
  });
  svg.querySelectorAll('g.edge').forEach(function (g) {
    const t = g.querySelector('title');
    if (!t) return;
    const parts = t.textContent.split('->');
    (edgesInto[parts[1]] = edgesInto[parts[1]] || []).push(g);
    (edgesOutOf[parts[0]] = edgesOutOf[parts[0]] || []).push(g);
  });
  const keysOfNode = {};  // svg node id -> the record / leaf keys it stands for
  R.forEach(function (r) {
    [r.opNode, r.valueNode].forEach(function (n) {
      if (n && (keysOfNode[n] = keysOfNode[n] || []).indexOf(r.key) < 0) keysOfNode[n].push(r.key);
    });
  });
  D.leaves.forEach(function (l) { if (l.node) (keysOfNode[l.node] = keysOfNode[l.node] || []).push(l.key); });
  function nodesOf(key) {
    const x = item[key];
    if (!x) return [];
    const ids = x.node ? [x.node] : [x.opNode, x.valueNode];
    return ids.filter(function (n, i) { return n && nodeEl[n] && ids.indexOf(n) === i; }).map(function (n) { return nodeEl[n]; });
  }
  function valueNode(key) { const x = item[key]; return x ? (x.node || x.valueNode) : null; }

  // fan-out badges: Σ j/n next to every value that several later ops use
  const badge = {};
  const SVGNS = 'http://www.w3.org/2000/svg';
  Object.keys(D.fanout).forEach(function (key) {
    const id = valueNode(key);
    if (D.fanout[key] < 2 || !id || !nodeEl[id]) return;
    const box = nodeEl[id].getBBox();
    const t = document.createElementNS(SVGNS, 'text');
    t.setAttribute('x', box.x + box.width + 2);
    t.setAttribute('y', box.y + 9);
    t.setAttribute('class', 'fanout');
    nodeEl[id].appendChild(t);
    badge[key] = t;
  });

  // pan and zoom: the viewBox is the camera
  const full = svg.viewBox.baseVal;
  const home = {x: full.x, y: full.y, w: full.width, h: full.height};
  let view = Object.assign({}, home);
  let currentEl = null;
  function setView(v) {
    view = v;
    svg.setAttribute('viewBox', v.x + ' ' + v.y + ' ' + v.w + ' ' + v.h);
    paintOverview(currentEl);
  }
  function zoom(f, cx, cy) {
    if (cx === undefined) { cx = view.x + view.w / 2; cy = view.y + view.h / 2; }
    const w = Math.min(home.w * 4, Math.max(home.w / 200, view.w / f));
    const h = w * view.h / view.w;
    setView({x: cx - (cx - view.x) * w / view.w, y: cy - (cy - view.y) * h / view.h, w: w, h: h});
  }
  function toGraph(clientX, clientY) {
    const p = svg.createSVGPoint(); p.x = clientX; p.y = clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  const pane = document.getElementById('graph-pane');
  pane.addEventListener('wheel', function (e) {
    e.preventDefault();
    const p = toGraph(e.clientX, e.clientY);
    zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, p.x, p.y);
  }, {passive: false});
  let drag = null;
  pane.addEventListener('pointerdown', function (e) {
    if (e.button !== 0) return;
    drag = {x: e.clientX, y: e.clientY, view: Object.assign({}, view), moved: false};
  });
  window.addEventListener('pointermove', function (e) {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; pane.classList.add('dragging'); }
    if (!drag.moved) return;
    const ctm = svg.getScreenCTM();
    setView({x: drag.view.x - dx / ctm.a, y: drag.view.y - dy / ctm.d, w: drag.view.w, h: drag.view.h});
  });
  window.addEventListener('pointerup', function () {
    pane.classList.remove('dragging');
    setTimeout(function () { drag = null; }, 0);
  });
  // a node's box in graph coordinates (the viewBox's), whatever the current view
  function boxOf(el) {
    const r = el.getBoundingClientRect();
    const a = toGraph(r.left, r.top), b = toGraph(r.right, r.bottom);
    return {x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(b.x - a.x), h: Math.abs(b.y - a.y)};
  }
  function union(boxes) {
    if (!boxes.length) return null;
    const x0 = Math.min.apply(null, boxes.map(function (b) { return b.x; }));
    const y0 = Math.min.apply(null, boxes.map(function (b) { return b.y; }));
    const x1 = Math.max.apply(null, boxes.map(function (b) { return b.x + b.w; }));
    const y1 = Math.max.apply(null, boxes.map(function (b) { return b.y + b.h; }));
    return {x: x0, y: y0, w: x1 - x0, h: y1 - y0};
  }
  // the current record's neighbourhood: its own nodes and those of its inputs (forward) or of the
  // values receiving its gradient (backward), which are what the step panel talks about
  let neighbours = [];
  function actualScale() { const s = svg.getBoundingClientRect(); return {w: s.width * 0.75, h: s.height * 0.75}; }  // 1 pt = 4/3 px
  const LEGIBLE = 0.4;  // never zoom out past 40 % of actual size to follow a step: text stays readable
  function viewFor(box) {  // a view showing box with a margin, between 1:1 and the legibility floor; null if it cannot
    const s = svg.getBoundingClientRect(), one = actualScale();
    const aspect = s.height / Math.max(s.width, 1);
    const w = Math.max(box.w + 60, (box.h + 60) / aspect, one.w);
    if (w > one.w / LEGIBLE) return null;
    const h = w * aspect;
    return {x: box.x + box.w / 2 - w / 2, y: box.y + box.h / 2 - h / 2, w: w, h: h};
  }
  function centreOn(el, w) {  // the record in the middle, at width w (graph units)
    const b = boxOf(el), aspect = view.h / view.w;
    setView({x: b.x + b.w / 2 - w / 2, y: b.y + b.h / 2 - w * aspect / 2, w: w, h: w * aspect});
  }
  function fitNear() {
    const near = neighbours.filter(Boolean);
    if (!near.length) { setView(Object.assign({}, home)); return; }
    const v = viewFor(union(near.map(boxOf)));
    if (v) setView(v); else centreOn(currentEl || near[0], actualScale().w);  // far neighbours: see the overview
  }
  function keepInView(el) {
    if (!el || !document.getElementById('follow').checked) return;
    const s = svg.getBoundingClientRect();
    const inside = function (r) { return r.left >= s.left && r.right <= s.right && r.top >= s.top && r.bottom <= s.bottom; };
    const near = neighbours.filter(Boolean);
    if (near.every(function (n) { return inside(n.getBoundingClientRect()); })) return;
    const box = union(near.map(boxOf));
    const fits = box && box.w + 60 <= view.w && box.h + 60 <= view.h;
    if (fits) {  // the same zoom, moved so that the whole neighbourhood shows
      setView({x: box.x + box.w / 2 - view.w / 2, y: box.y + box.h / 2 - view.h / 2, w: view.w, h: view.h});
      return;
    }
    const v = box && viewFor(box);  // zoom out just enough for the record and its neighbours, if still legible
    if (v) setView(v);
    else if (!inside(el.getBoundingClientRect())) centreOn(el, Math.min(view.w, actualScale().w / LEGIBLE));
  }

  // ------------------------------------------------------------------ the overview
  const overview = document.getElementById('overview');
  const ov = {el: null, view: null, dot: null, scopes: []};
  function buildOverview() {
    if (!overview) return;
    const clusters = [];
    svg.querySelectorAll('g.cluster').forEach(function (g) {
      const t = g.querySelector('title'), txt = g.querySelector('text');
      const shape = g.querySelector('path, polygon');
      if (!shape) return;
      clusters.push({box: boxOf(shape), label: txt ? txt.textContent : (t ? t.textContent : '')});
    });
    // top-level scopes only: a cluster inside another is drawn by its parent
    const top = clusters.filter(function (c) {
      return !clusters.some(function (o) {
        return o !== c && o.box.x <= c.box.x && o.box.y <= c.box.y && o.box.x + o.box.w >= c.box.x + c.box.w &&
          o.box.y + o.box.h >= c.box.y + c.box.h;
      });
    });
    let inner = '<rect x="' + home.x + '" y="' + home.y + '" width="' + home.w + '" height="' + home.h + '" fill="#fff"/>';
    // a label about 9 px tall on screen (the overview shows home.w graph units across its width),
    // placed left to right where it does not overlap the previous one
    const across = overview.getBoundingClientRect().width || 225;
    const font = home.w / across * 9;
    let free = -Infinity;
    top.forEach(function (c, i) {
      inner += '<rect class="scope" data-i="' + i + '" x="' + c.box.x + '" y="' + c.box.y + '" width="' + c.box.w +
        '" height="' + c.box.h + '"/>';
      const half = font * 0.3 * c.label.length, mid = c.box.x + c.box.w / 2;
      if (mid - half >= free) {
        inner += '<text x="' + mid + '" y="' + (c.box.y + font * 1.05) + '" text-anchor="middle" ' +
          'style="font-size:' + font + 'px">' + esc(c.label) + '</text>';
        free = mid + half + font * 0.4;
      }
    });
    inner += '<rect class="view" x="0" y="0" width="0" height="0"/><g class="near-dots"></g>' +
      '<circle class="here-dot" r="' + font / 2.5 + '" cx="-1e9" cy="-1e9"/>';
    ov.r = font / 3.5;
    overview.innerHTML = '<svg viewBox="' + home.x + ' ' + home.y + ' ' + home.w + ' ' + home.h + '" role="img" ' +
      'aria-label="overview">' + inner + '</svg>';
    ov.el = overview.querySelector('svg');
    ov.view = overview.querySelector('.view');
    ov.dot = overview.querySelector('.here-dot');
    ov.scopes = top.map(function (c, i) { return {box: c.box, el: overview.querySelector('.scope[data-i="' + i + '"]')}; });
    ov.near = overview.querySelector('.near-dots');
    overview.addEventListener('pointerdown', function (e) {
      e.stopPropagation();
      const p = ov.el.createSVGPoint(); p.x = e.clientX; p.y = e.clientY;
      const g = p.matrixTransform(ov.el.getScreenCTM().inverse());
      setView({x: g.x - view.w / 2, y: g.y - view.h / 2, w: view.w, h: view.h});
    });
  }
  function paintOverview(current) {
    if (!ov.el) return;
    ov.view.setAttribute('x', view.x); ov.view.setAttribute('y', view.y);
    ov.view.setAttribute('width', view.w); ov.view.setAttribute('height', view.h);
    let here = null;
    if (current) {
      const b = boxOf(current);
      here = {x: b.x + b.w / 2, y: b.y + b.h / 2};
      ov.dot.setAttribute('cx', here.x); ov.dot.setAttribute('cy', here.y);
    } else {
      ov.dot.setAttribute('cx', -1e9); ov.dot.setAttribute('cy', -1e9);
    }
    // the values this step reads or sends gradient to: orange dots, so a far one is found at any zoom
    ov.near.innerHTML = neighbours.filter(function (el) { return el && el !== current; }).map(function (el) {
      const b = boxOf(el);
      return '<circle class="near-dot" r="' + ov.r + '" cx="' + (b.x + b.w / 2) + '" cy="' + (b.y + b.h / 2) + '"/>';
    }).join('');
    ov.scopes.forEach(function (s) {
      const inside = here && here.x >= s.box.x && here.x <= s.box.x + s.box.w && here.y >= s.box.y && here.y <= s.box.y + s.box.h;
      s.el.classList.toggle('here', Boolean(inside));
    });
  }

  // ------------------------------------------------------------------ state
  let mode = 'backward', pos = 0, timer = null, selected = null;
  const slider = document.getElementById('slider');

  // gradient totals after the first p backward steps: key -> {tot, count}
  function totalsAt(p) {
    const out = {};
    for (let j = 0; j < p; j++) {
      B[j].out.forEach(function (o) {
        const cur = out[o.to] || {count: 0};
        out[o.to] = {tot: o.tot, count: cur.count + 1};
      });
    }
    return out;
  }
  function status(key, t) {
    const n = D.fanout[key] || 0;
    const got = t ? t.count : 0;
    if (item[key] && item[key].key[0] === 'l' && got === n && n > 0) return '<span class="status complete">complete (= .grad)</span>';
    if (got === n && n > 0) return '<span class="status complete">complete: ' + n + ' of ' + n + '</span>';
    return '<span class="status">Σ ' + got + ' of ' + n + ' contributions</span>';
  }

  function render() {
    slider.max = N;
    slider.value = pos;
    document.getElementById('mode-forward').setAttribute('aria-pressed', String(mode === 'forward'));
    document.getElementById('mode-backward').setAttribute('aria-pressed', String(mode === 'backward'));
    document.getElementById('counter').textContent =
      (mode === 'forward' ? 'forward step ' : 'backward step ') + pos + ' of ' + N;
    const totals = mode === 'backward' ? totalsAt(pos) : {};
    paintGraph(totals);
    renderStep(totals);
    renderLeaves(totals);
    renderNode(totals);
    renderPanels(totals);
  }

  function paintGraph(totals) {
    Object.keys(nodeEl).forEach(function (id) { nodeEl[id].classList.remove('cur', 'recv', 'src', 'done', 'future', 'sel'); });
    svg.querySelectorAll('g.edge').forEach(function (e) { e.classList.remove('flow', 'future'); });
    let current = null;
    if (mode === 'forward') {
      R.forEach(function (r, k) {
        if (k >= pos) {
          nodesOf(r.key).forEach(function (el) { el.classList.add('future'); });
          (edgesInto[r.opNode] || []).forEach(function (e) { e.classList.add('future'); });
        }
      });
      // leaves stay visible; a node standing for a leaf and a folded op (Wᵀ) is never faded
      D.leaves.forEach(function (l) { if (l.node && nodeEl[l.node]) nodeEl[l.node].classList.remove('future'); });
      if (pos > 0) {
        const r = R[pos - 1];
        nodesOf(r.key).forEach(function (el) { el.classList.add('cur'); });
        (edgesInto[r.opNode] || []).forEach(function (e) { e.classList.add('flow'); });
        r.inputs.forEach(function (key) { if (key) nodesOf(key).forEach(function (el) { if (!el.classList.contains('cur')) el.classList.add('src'); }); });
        current = nodeEl[r.opNode];
        neighbours = nodesOf(r.key);
        r.inputs.forEach(function (key) { if (key) neighbours = neighbours.concat(nodesOf(key)); });
      }
    } else {
      for (let j = 0; j < pos - 1; j++) nodesOf(B[j].rec).forEach(function (el) { el.classList.add('done'); });
      if (pos > 0) {
        const s = B[pos - 1], r = item[s.rec];
        nodesOf(s.rec).forEach(function (el) { el.classList.remove('done'); el.classList.add('cur'); });
        (edgesInto[r.opNode] || []).forEach(function (e) { e.classList.add('flow'); });
        neighbours = nodesOf(s.rec).slice();
        s.out.forEach(function (o) {  // the node of the value receiving the gradient (not the op that made it)
          const el = nodeEl[valueNode(o.to)];
          if (el && !el.classList.contains('cur')) el.classList.add('recv');
          if (el) neighbours.push(el);
        });
        current = nodeEl[r.opNode];
      }
    }
    if (!current) neighbours = [];
    if (selected && nodeEl[selected]) nodeEl[selected].classList.add('sel');
    Object.keys(badge).forEach(function (key) {
      const t = totals[key];
      const n = D.fanout[key];
      const got = t ? t.count : 0;
      badge[key].textContent = mode === 'backward' ? 'Σ ' + got + '/' + n : 'used ×' + n;
      badge[key].classList.toggle('complete', mode === 'backward' && got === n);
    });
    currentEl = current;
    keepInView(current);
    paintOverview(current);
  }

  function renderStep(totals) {
    const title = document.getElementById('step-title');
    const box = document.getElementById('step');
    if (pos === 0) {
      title.textContent = mode === 'forward' ? 'Forward replay: before the first record' : 'Backward walk: before the first rule';
      box.innerHTML = mode === 'forward'
        ? '<p>The forward pass recorded ' + N + ' ops on the tape, in this order. Press &rarr; to replay them one at a time.</p>'
        : '<p>The walk visits the ' + N + ' records in reverse tape order. Each record&rsquo;s output gradient is complete when its turn comes, because every op that used the output was recorded later. The first step starts from ∂L/∂L = 1. Press &rarr;.</p>';
      return;
    }
    if (mode === 'forward') {
      const r = R[pos - 1];
      title.textContent = 'Forward step ' + pos + ' of ' + N;
      let rows = '';
      r.inputs.forEach(function (key, i) {
        rows += '<tr><td>input ' + i + '</td><td>' + esc(key ? label(key) : 'a constant') + '</td><td>' +
          (key ? arr(item[key].value) : '<span class="summary">(a constant)</span>') + '</td></tr>';
      });
      box.innerHTML = '<p>record <b>#' + r.seq + '</b> ' + opText(r) + tagChips(r) +
        (r.scope ? ' <span class="summary">in scope ' + esc(r.scope) + '</span>' : '') + '</p>' +
        '<table class="io">' + rows + '<tr><td><b>output</b></td><td><b>' + esc(label(r.key)) + '</b></td><td>' + arr(r.value) +
        '</td></tr></table>';
      return;
    }
    const s = B[pos - 1], r = item[s.rec];
    title.textContent = 'Backward step ' + pos + ' of ' + N + ': rule ' + r.op;
    let rows = '';
    s.out.forEach(function (o) {
      const t = totals[o.to];
      rows += '<tr class="input"><th colspan="2">input ' + o.i + ': <b>' + esc(label(o.to)) + '</b></th></tr>' +
        '<tr class="contrib"><td>rule gives</td><td>' + arr(o.c) + '</td></tr>' +
        '<tr class="total"><td>so far<br>' + status(o.to, t) + '</td><td>' + arr(o.tot) + '</td></tr>';
    });
    const none = r.inputs.map(function (key, i) { return s.out.some(function (o) { return o.i === i; }) ? null : i; })
      .filter(function (i) { return i !== null; });
    box.innerHTML = '<p>record <b>#' + r.seq + '</b> ' + opText(r) + tagChips(r) +
      (r.scope ? ' <span class="summary">in scope ' + esc(r.scope) + '</span>' : '') + '</p>' +
      '<div class="upstream">upstream gradient arriving, <b>g = ∂L/∂' + esc(label(r.key)) + '</b>' +
      (D.fanout[r.key] > 1 ? ' (the complete sum of its ' + D.fanout[r.key] + ' contributions)' : '') + ':<div class="g">' +
      (s.g ? arr(s.g) : '<span class="summary">none arrived (no path to L)</span>') + '</div></div>' +
      (rows ? '<p>the rule ' + opText(r) + ' gives each input <b>g · ∂out/∂input</b>, which is added to that input&rsquo;s gradient:</p><table class="io">' + rows + '</table>'
        : '<p class="summary">no input of this record needs a gradient</p>') +
      (none.length ? '<p class="hint">input' + (none.length > 1 ? 's ' : ' ') + none.join(', ') + ': constant, no gradient</p>' : '');
  }

  function renderLeaves(totals) {
    let rows = '<tr><th>leaf</th><th>gradient so far</th></tr>';
    D.leaves.forEach(function (l) {
      if (!l.param) return;
      const t = totals[l.key];
      const shown = mode === 'backward' && t ? arr(t.tot) : (l.gradBefore ? arr(l.gradBefore) : '<span class="summary">none yet</span>');
      rows += '<tr data-leaf="' + esc(l.name) + '" data-key="' + l.key + '"><td><b>' + esc(l.name) + '</b><br>' +
        (mode === 'backward' ? status(l.key, t) : '') + '</td><td class="grad">' + shown + '</td></tr>';
    });
    document.getElementById('leaf-grads').innerHTML = rows;
  }

  function renderNode(totals) {
    const box = document.getElementById('node');
    if (!selected) return;
    const keys = keysOfNode[selected] || [];
    if (!keys.length) {
      box.innerHTML = '<p><b>' + esc(selected) + '</b>: a constant input (no gradient).</p>';
      return;
    }
    box.innerHTML = keys.map(function (key) {
      const x = item[key];
      const isRec = key[0] === 'r';
      const computed = !isRec || mode === 'backward' || x.index < pos;
      let grad;
      if (mode !== 'backward') {
        grad = '<span class="summary">switch to the backward walk</span>';
      } else if (isRec && bstep[key] !== undefined && bstep[key] < pos) {
        grad = arr(B[bstep[key]].g) + ' <span class="status complete">complete</span>';
      } else if (totals[key]) {
        grad = arr(totals[key].tot) + ' ' + status(key, totals[key]);
      } else if (!isRec && !x.param) {
        grad = '<span class="summary">none (does not require grad)</span>';
      } else {
        grad = '<span class="summary">not reached yet</span>';
      }
      return '<div class="nodeinfo" data-key="' + key + '"><p><b>' + esc(label(key)) + '</b> ' +
        (isRec ? opText(x) + ' #' + x.seq + tagChips(x) : (x.param ? '(parameter)' : '(input)')) + '</p>' +
        '<div class="row">value: <div class="value">' + (computed ? arr(x.value) : '<span class="summary">not computed yet</span>') + '</div></div>' +
        '<div class="row">gradient: <div class="gradient">' + grad + '</div></div></div>';
    }).join('');
  }

  // ------------------------------------------------------------------ side panels given by the caller
  const extra = document.getElementById('extra-panels');
  const finalTotals = totalsAt(B.length);
  D.panels.forEach(function (p, pi) {
    const sec = document.createElement('section');
    sec.className = p.kind === 'bars' ? 'bars' : 'heat';
    sec.innerHTML = '<h2>' + esc(p.title) + '</h2><div class="body"></div>';
    extra.appendChild(sec);
    p.el = sec.querySelector('.body');
    if (p.kind === 'bars') {
      const norms = p.items.map(function (it) {
        const t = finalTotals[it.key];
        const g = bstep[it.key] !== undefined ? B[bstep[it.key]].g : null;
        return num((g || (t && t.tot) || {n: 0}).n);
      }).filter(function (n) { return n > 0 && isFinite(n); });
      p.lo = Math.floor(Math.log10(Math.min.apply(null, norms.length ? norms : [1])));
      p.hi = Math.ceil(Math.log10(Math.max.apply(null, norms.length ? norms : [10])));
      if (p.hi <= p.lo) p.hi = p.lo + 1;
    } else {
      let lo = Infinity, hi = -Infinity;
      p.items.forEach(function (it) { (item[it.key].value.v || []).forEach(function (v) { v = num(v); if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
      p.lo = Math.min(0, lo); p.hi = hi > p.lo ? hi : p.lo + 1;
      p.gmax = 0;  // the largest |gradient| of any row, once complete: the diverging scale's end
      p.items.forEach(function (it) {
        const g = bstep[it.key] !== undefined ? B[bstep[it.key]].g : null;
        ((g && g.v) || []).forEach(function (v) { v = Math.abs(num(v)); if (isFinite(v)) p.gmax = Math.max(p.gmax, v); });
      });
    }
  });
  // rows and bars follow the walk by scope: the current record's top-level scope (e.g. "t=3")
  function scopeHead(key) { const x = item[key]; return x && x.scope ? x.scope.split('/')[0] : ''; }
  const BURD = ['#2166AC', '#4393C3', '#92C5DE', '#D1E5F0', '#F7F7F7', '#FDDBC7', '#F4A582', '#D6604D', '#B2182B'];
  function gradRow(p, key, totals) {
    let enc = null, complete = false;
    if (bstep[key] !== undefined && bstep[key] < pos) { enc = B[bstep[key]].g; complete = true; }
    else if (totals[key]) enc = totals[key].tot;
    return {vals: enc && enc.v ? enc.v.map(num) : [], complete: complete};
  }
  const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
  function renderPanels(totals) {
    const cur = pos > 0 ? (mode === 'forward' ? R[pos - 1].key : B[pos - 1].rec) : null;
    const curScope = cur ? scopeHead(cur) : '';
    function isCurrent(key) { return key === cur || (curScope !== '' && scopeHead(key) === curScope); }
    D.panels.forEach(function (p) {
      if (p.kind === 'bars') {
        const W = 26, H = 96, n = p.items.length;
        let bars = '';
        p.items.forEach(function (it, i) {
          let nrm = 0, complete = false;
          if (mode === 'backward') {
            if (bstep[it.key] !== undefined && bstep[it.key] < pos) { nrm = num(B[bstep[it.key]].g ? B[bstep[it.key]].g.n : 0); complete = true; }
            else if (totals[it.key]) { nrm = num(totals[it.key].tot.n); }
          }
          const f = nrm > 0 ? Math.max(0.03, (Math.log10(nrm) - p.lo) / (p.hi - p.lo)) : 0;
          const h = Math.max(0, Math.min(1, f)) * H;
          bars += '<g><title>' + esc(it.label) + ': ‖∂L/∂·‖ ' + (nrm ? fmt(nrm) : 'none yet') + (complete ? ' (complete)' : nrm ? ' (partial sum)' : '') + '</title>' +
            '<rect class="bar ' + (complete ? 'complete' : 'partial') + (isCurrent(it.key) ? ' current' : '') + '" x="' + (i * W + 3) + '" y="' + (H - h + 4) +
            '" width="' + (W - 6) + '" height="' + h + '"></rect>' +
            '<text x="' + (i * W + W / 2) + '" y="' + (H + 18) + '" text-anchor="middle" font-size="10">' + esc(it.label) + '</text></g>';
        });
        p.el.innerHTML = '<svg viewBox="0 0 ' + Math.max(n * W, 120) + ' ' + (H + 24) + '" preserveAspectRatio="xMinYMid meet" role="img" aria-label="' + esc(p.title) + '">' +
          '<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
          '<rect width="5" height="5" fill="#ffffff"></rect><line x1="0" y1="0" x2="0" y2="5" stroke="#0077BB" stroke-width="2.5"></line></pattern></defs>' +
          '<line x1="0" x2="' + n * W + '" y1="' + (H + 4) + '" y2="' + (H + 4) + '" stroke="#999"></line>' + bars + '</svg>' +
          '<p class="hint">log scale, 10<sup>' + p.lo + '</sup> … 10<sup>' + p.hi + '</sup>; solid: complete, hatched: partial sum so far' +
          (mode === 'forward' ? '; gradients appear during the backward walk' : '') + '</p>';
      } else {
        let rows = '', grows = '';
        p.items.forEach(function (it) {
          const r = item[it.key];
          const shown = mode === 'backward' || r.index < pos;
          const vals = shown && r.value.v ? r.value.v.map(num) : [];
          const here = isCurrent(it.key) ? ' class="current"' : '';
          rows += '<tr' + here + '><th>' + esc(it.label) + '</th>' + vals.map(function (v) {
            const f = (v - p.lo) / (p.hi - p.lo), c = VIRIDIS[Math.max(0, Math.min(9, Math.floor(f * 10)))];
            return '<td style="background:' + c + ';color:' + (f < 0.5 ? '#fff' : '#000') + '" title="' + fmt(v) + '">' + (v >= 0.005 ? v.toFixed(2).replace(/^0/, '') : '') + '</td>';
          }).join('') + '</tr>';
          if (mode === 'backward') {
            const gr = gradRow(p, it.key, totals);
            grows += '<tr' + here + '><th>' + esc(it.label) + (gr.vals.length && !gr.complete ? ' …' : '') + '</th>' + gr.vals.map(function (v) {
              const f = p.gmax > 0 ? v / p.gmax : 0, c = BURD[Math.max(0, Math.min(8, Math.round(4 + 4 * f)))];
              return '<td class="g" style="background:' + c + ';color:' + (Math.abs(f) > 0.6 ? '#fff' : '#000') + '" title="' + fmt(v) + '"></td>';
            }).join('') + '</tr>';
          }
        });
        p.el.innerHTML = '<table>' + rows + '</table><p class="hint">colour: value from ' + fmt(p.lo) + ' (dark) to ' + fmt(p.hi) +
          ' (yellow); a row appears when the forward replay computes it</p>' +
          (mode === 'backward' ? '<h3>its gradient, filling in during the walk</h3><table class="grad">' + grows +
            '</table><p class="hint">blue negative, red positive, white 0 (scale ±' + fmt(p.gmax) + '); “…”: a partial sum so far; ' +
            'hover a cell for its value</p>' : '');
      }
    });
  }

  // the legend of the tag colours, if the caller gave one
  (function () {
    const keys = Object.keys(D.legend);
    if (!keys.length) return;
    document.getElementById('tag-legend').innerHTML = '<table>' + keys.map(function (k) {
      return '<tr><td><span class="tagchip" style="background:' + D.legendColours[k] + '">' + esc(D.colorTag) + ' ' + esc(k) +
        '</span></td><td>' + esc(D.legend[k]) + '</td></tr>';
    }).join('') + '</table>';
  })();

  // ------------------------------------------------------------------ controls
  function go(p) { pos = Math.max(0, Math.min(N, p)); render(); }
  function setMode(m) { if (m !== mode) { mode = m; pos = 0; stop(); render(); } }
  function stop() { if (timer) { clearInterval(timer); timer = null; } setPlayLabel(); }
  function setPlayLabel() {
    const b = document.getElementById('play');
    b.textContent = timer ? '❚❚ pause' : '▶ play';
    b.setAttribute('aria-label', timer ? 'Pause' : 'Play');
  }
  function play() {
    if (timer) { stop(); return; }
    if (pos >= N) pos = 0;
    timer = setInterval(function () { if (pos >= N) stop(); else go(pos + 1); }, 450);
    setPlayLabel();
  }
  document.getElementById('first').addEventListener('click', function () { stop(); go(0); });
  document.getElementById('prev').addEventListener('click', function () { stop(); go(pos - 1); });
  document.getElementById('next').addEventListener('click', function () { stop(); go(pos + 1); });
  document.getElementById('last').addEventListener('click', function () { stop(); go(N); });
  document.getElementById('play').addEventListener('click', play);
  document.getElementById('mode-forward').addEventListener('click', function () { setMode('forward'); });
  document.getElementById('mode-backward').addEventListener('click', function () { setMode('backward'); });
  document.getElementById('zoom-in').addEventListener('click', function () { zoom(1.25); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoom(1 / 1.25); });
  document.getElementById('zoom-fit').addEventListener('click', fitNear);
  document.getElementById('zoom-whole').addEventListener('click', function () { setView(Object.assign({}, home)); });
  document.getElementById('zoom-one').addEventListener('click', function () { actualSize(); });
  slider.addEventListener('input', function () { stop(); go(Number(slider.value)); });
  function select(id) { selected = id; render(); }
  Object.keys(nodeEl).forEach(function (id) {
    nodeEl[id].addEventListener('click', function () { if (!(drag && drag.moved)) select(id); });
    nodeEl[id].addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); e.stopPropagation(); select(id); }
    });
  });
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const onSlider = e.target === slider;
    const onButton = e.target && e.target.tagName === 'BUTTON';
    if (onSlider && ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End', 'PageUp', 'PageDown'].indexOf(e.key) >= 0) return;
    if (onButton && (e.key === 'Enter' || e.key === ' ')) return;
    const act = {
      ArrowRight: function () { stop(); go(pos + 1); }, ArrowLeft: function () { stop(); go(pos - 1); },
      Home: function () { stop(); go(0); }, End: function () { stop(); go(N); }, ' ': play,
      f: function () { setMode('forward'); }, F: function () { setMode('forward'); },
      b: function () { setMode('backward'); }, B: function () { setMode('backward'); },
      '+': function () { zoom(1.25); }, '=': function () { zoom(1.25); }, '-': function () { zoom(1 / 1.25); },
      '0': function () { setView(Object.assign({}, home)); }, '1': function () { actualSize(); },
      n: fitNear, N: fitNear,
      Escape: function () { selected = null; document.getElementById('node').innerHTML = ''; render(); }
    }[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  // start at actual size (Graphviz points: text as large as it was drawn) around the loss, unless it all fits
  function actualSize(el) {
    const s = svg.getBoundingClientRect();
    const w = s.width * 0.75, h = s.height * 0.75;  // 1 pt = 4/3 px
    if (w >= home.w && h >= home.h) { setView(Object.assign({}, home)); return; }
    el = el || nodeEl[R.length ? (R[N - 1].valueNode || R[N - 1].opNode) : ''];
    let c = {x: view.x + view.w / 2, y: view.y + view.h / 2};
    if (el) { const r = el.getBoundingClientRect(); c = toGraph(r.left + r.width / 2, r.top + r.height / 2); }
    setView({x: c.x - w / 2, y: c.y - h / 2, w: w, h: h});
  }
  actualSize();
  buildOverview();

  window.walk = {go: go, setMode: setMode, steps: N, get pos() { return pos; }, get mode() { return mode; },
                 get view() { return Object.assign({}, view); }, get home() { return Object.assign({}, home); },
                 legible: LEGIBLE};
  render();
})();
