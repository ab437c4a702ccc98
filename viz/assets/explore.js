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
  function setView(v) { view = v; svg.setAttribute('viewBox', v.x + ' ' + v.y + ' ' + v.w + ' ' + v.h); }
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
  function keepInView(el) {
    if (!el || !document.getElementById('follow').checked) return;
    const r = el.getBoundingClientRect(), s = svg.getBoundingClientRect();
    if (r.left >= s.left && r.right <= s.right && r.top >= s.top && r.bottom <= s.bottom) return;
    const c = toGraph(r.left + r.width / 2, r.top + r.height / 2);
    setView({x: c.x - view.w / 2, y: c.y - view.h / 2, w: view.w, h: view.h});
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
      }
    } else {
      for (let j = 0; j < pos - 1; j++) nodesOf(B[j].rec).forEach(function (el) { el.classList.add('done'); });
      if (pos > 0) {
        const s = B[pos - 1], r = item[s.rec];
        nodesOf(s.rec).forEach(function (el) { el.classList.remove('done'); el.classList.add('cur'); });
        (edgesInto[r.opNode] || []).forEach(function (e) { e.classList.add('flow'); });
        s.out.forEach(function (o) {  // the node of the value receiving the gradient (not the op that made it)
          const el = nodeEl[valueNode(o.to)];
          if (el && !el.classList.contains('cur')) el.classList.add('recv');
        });
        current = nodeEl[r.opNode];
      }
    }
    if (selected && nodeEl[selected]) nodeEl[selected].classList.add('sel');
    Object.keys(badge).forEach(function (key) {
      const t = totals[key];
      const n = D.fanout[key];
      const got = t ? t.count : 0;
      badge[key].textContent = mode === 'backward' ? 'Σ ' + got + '/' + n : 'used ×' + n;
      badge[key].classList.toggle('complete', mode === 'backward' && got === n);
    });
    keepInView(current);
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
  document.getElementById('zoom-fit').addEventListener('click', function () { setView(Object.assign({}, home)); });
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

  window.walk = {go: go, setMode: setMode, steps: N, get pos() { return pos; }, get mode() { return mode; }};
  render();
})();
