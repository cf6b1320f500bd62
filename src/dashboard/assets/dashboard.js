// The live cluster dashboard: plain JavaScript and SVG, no build step, no external asset.
// One event stream per member, straight to that member's /dashboard/events, so the page keeps
// working when the member that served it dies. Everything shown comes from those streams.

const SVG = 'http://www.w3.org/2000/svg';
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const n = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  for (const k of kids) n.append(k);
  return n;
};

const page = {
  scheme: location.protocol.replace(':', ''),
  machine: null,
  controls: new Set(),
  /** id -> member record */
  members: new Map(),
  timeline: [],
  seen: new Set(),
  rates: [],
  token: sessionStorage.getItem('actor-raft-token') || '',
};

function headers(json) {
  const h = {};
  if (page.token) h.authorization = `Bearer ${page.token}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

function needToken() {
  $('#token-box').hidden = false;
  say('this cluster needs its HTTP token: enter it above');
}

$('#token').addEventListener('change', (e) => {
  page.token = e.target.value.trim();
  sessionStorage.setItem('actor-raft-token', page.token);
  for (const m of page.members.values()) m.abort?.abort();
  refreshCluster();
});

function say(text) {
  $('#message').textContent = `${new Date().toLocaleTimeString()}  ${text}`;
}

// ----- the statechart, drawn from the machine definition -----

const BOX = { w: 100, h: 26 };

function layout(states) {
  const pos = {};
  const n = states.length;
  states.forEach((s, i) => {
    const a = -0.75 * Math.PI + (2 * Math.PI * i) / n;
    pos[s] = { x: 150 + 100 * Math.cos(a) * 1.25, y: 75 + 48 * Math.sin(a) * 1.25 };
  });
  return pos;
}

/** Where the segment from the centre of a box towards (tx, ty) leaves the box. */
function boxExit(c, tx, ty) {
  const dx = tx - c.x, dy = ty - c.y;
  const s = Math.min(Math.abs(BOX.w / 2 / (dx || 1e-9)), Math.abs(BOX.h / 2 / (dy || 1e-9)));
  return { x: c.x + dx * s, y: c.y + dy * s };
}

function drawChart(machine) {
  const svg = el('svg:svg', { class: 'chart', viewBox: '0 0 300 150' });
  const defs = el('svg:defs');
  defs.append(el('svg:marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' }, el('svg:path', { d: 'M0,0 L10,5 L0,10 z', fill: '#64748b' })));
  svg.append(defs);
  const pos = layout(machine.states);
  const pairs = new Map();
  for (const e of machine.edges) {
    const key = `${e.from}>${e.to}`;
    if (!pairs.has(key)) pairs.set(key, { from: e.from, to: e.to, labels: [] });
    pairs.get(key).labels.push(e.label);
  }
  for (const p of pairs.values()) {
    let d;
    const a = pos[p.from], b = pos[p.to];
    if (p.from === p.to) {
      const top = a.y - BOX.h / 2;
      d = `M${a.x - 14},${top} C${a.x - 24},${top - 26} ${a.x + 24},${top - 26} ${a.x + 14},${top}`;
    } else {
      // Two arrows between the same states run side by side.
      const back = pairs.has(`${p.to}>${p.from}`) ? 5 : 0;
      const len = Math.hypot(b.x - a.x, b.y - a.y);
      const ox = (-(b.y - a.y) / len) * back, oy = ((b.x - a.x) / len) * back;
      const s = boxExit(a, b.x, b.y), t = boxExit(b, a.x, a.y);
      d = `M${s.x + ox},${s.y + oy} L${t.x + ox},${t.y + oy}`;
    }
    const path = el('svg:path', { class: 'edge', d, 'marker-end': 'url(#arrow)', 'data-from': p.from, 'data-to': p.to });
    path.append(el('svg:title', {}, `${p.from} → ${p.to}\n${p.labels.join('\n')}`));
    svg.append(path);
  }
  for (const s of machine.states) {
    const g = el('svg:g', { class: 'state', 'data-state': s });
    g.append(el('svg:rect', { x: pos[s].x - BOX.w / 2, y: pos[s].y - BOX.h / 2, width: BOX.w, height: BOX.h, rx: 7 }));
    g.append(el('svg:text', { x: pos[s].x, y: pos[s].y }, s));
    svg.append(g);
  }
  const anyTargets = [...new Set(machine.fromAny.map((t) => t.to))];
  anyTargets.forEach((to, i) => {
    const labels = machine.fromAny.filter((t) => t.to === to).map((t) => t.label);
    const t = el('svg:text', { class: 'any', x: 4, y: 146 - i * 11 }, `from any state → ${to} (${labels.length} rules)`);
    t.append(el('svg:title', {}, labels.join('\n')));
    svg.append(t);
  });
  return svg;
}

// ----- one card per member -----

function card(m) {
  const root = el('article', { class: 'member', id: `member-${m.id}`, 'data-member': m.id, 'data-up': 'false', 'data-role': '' });
  root.innerHTML = `
    <h3><span>member ${m.id} <span class="role muted">…</span><span class="lag"></span></span><small class="addr"></small></h3>`;
  root.append(drawChart(page.machine));
  root.insertAdjacentHTML('beforeend', `
    <table class="figures"><tr><th>term</th><td data-f="term"></td><th>vote</th><td data-f="vote"></td><th>leader</th><td data-f="leader"></td></tr>
    <tr><th>commit</th><td data-f="commit"></td><th>applied</th><td data-f="applied"></td><th>log</th><td data-f="log"></td></tr>
    <tr><th>snapshot</th><td data-f="snapshot"></td><th>commits/s</th><td data-f="rate"></td><th>latency</th><td data-f="latency"></td></tr></table>
    <table class="replicators"></table>
    <table class="peers"></table>
    <div class="controls">
      <button data-action="kill">kill</button><button data-action="restart">restart</button>
      <button data-action="partition">partition</button><button data-action="transfer-here">make leader</button>
      <button data-action="remove">remove</button>
    </div>`);
  root.querySelector('.controls').addEventListener('click', (e) => {
    const action = e.target?.dataset?.action;
    if (!action) return;
    if (action === 'transfer-here') return control({ action: 'transfer', to: m.id }, 'leader');
    if (action === 'remove') return control({ action: 'remove', id: m.id }, 'leader');
    return control({ action, id: m.id }, 'any', m.id);
  });
  return root;
}

function setText(root, f, v) {
  const n = root.querySelector(`[data-f="${f}"]`);
  if (n) n.textContent = v === null || v === undefined ? '—' : String(v);
}

function leaderView() {
  let best;
  for (const m of page.members.values()) if (m.up && m.view?.role === 'leader' && (!best || m.view.term > best.term)) best = m.view;
  return best;
}

function render(m) {
  const root = m.card;
  const v = m.view;
  root.dataset.up = String(m.up);
  root.querySelector('.addr').textContent = m.http ? `${m.http}${m.up ? '' : ' · down'}` : 'no HTTP address known';
  const role = m.up && v ? v.role : '';
  root.dataset.role = role;
  root.querySelector('.role').textContent = m.up ? (v ? v.role : 'starting') : 'down';
  for (const g of root.querySelectorAll('.state')) g.classList.toggle('active', g.dataset.state === role);
  for (const b of root.querySelectorAll('.controls button')) {
    const a = b.dataset.action;
    const offered = a === 'transfer-here' ? page.controls.has('transfer') : page.controls.has(a);
    b.hidden = !offered;
    b.disabled = (a === 'restart' && m.up) || (a === 'kill' && !m.up) || (a === 'transfer-here' && (!m.up || role === 'leader'));
  }
  const lag = root.querySelector('.lag');
  lag.textContent = '';
  if (!v) return;
  setText(root, 'term', v.term);
  setText(root, 'vote', v.vote || 'none');
  setText(root, 'leader', v.leader || 'none');
  setText(root, 'commit', v.commit);
  setText(root, 'applied', v.applied);
  setText(root, 'log', v.lastIndex === null ? null : `${v.lastIndex - v.firstIndex + 1} entries (to ${v.lastIndex})`);
  setText(root, 'snapshot', v.snapshotIndex);
  setText(root, 'rate', m.rate === undefined ? null : m.rate.toFixed(1));
  setText(root, 'latency', m.latency ?? null);
  const lead = leaderView();
  if (m.up && lead && role !== 'leader') {
    const behind = Math.max(0, lead.commit - v.applied);
    lag.innerHTML = behind === 0 ? ' <span class="badge ok">caught up</span>' : ` <span class="badge warn">${behind} behind</span>`;
    root.dataset.behind = String(behind);
  } else delete root.dataset.behind;
  if (m.partitioned) lag.innerHTML += ' <span class="badge warn">partitioned</span>';
  const reps = Object.entries(v.replicators);
  root.querySelector('.replicators').innerHTML = reps.length === 0 || !m.up ? '' :
    '<tr><th>replicator</th><th>state</th><th>match</th><th>next</th><th>inflight</th></tr>' +
    reps.map(([id, r]) => `<tr><td>→ ${id}</td><td>${r.state}${r.recentActive ? '' : ' <span class="badge warn">inactive</span>'}</td><td>${r.match}</td><td>${r.next}</td><td>${r.inflight}</td></tr>`).join('');
  const peers = Object.entries(v.peers);
  root.querySelector('.peers').innerHTML = peers.length === 0 || !m.up ? '' :
    '<tr><th>peer</th><th>circuit breaker</th><th>connection</th></tr>' +
    peers.map(([id, p]) => `<tr><td>${id}</td><td class="circuit-${p.circuit}">${p.circuit}</td><td>${p.connected ? 'up' : 'down'}</td></tr>`).join('');
}

function renderSummary() {
  const up = [...page.members.values()].filter((m) => m.up);
  const lead = leaderView();
  $('#summary').textContent = `${page.members.size} members, ${up.length} up · ${lead ? `leader: member ${lead.member}, term ${lead.term}, commit ${lead.commit}` : 'no leader'}`;
  for (const b of document.querySelectorAll('#cluster-controls button')) b.hidden = !page.controls.has(b.dataset.action);
  for (const m of page.members.values()) render(m);
}

// ----- commit rate and latency, from consecutive views -----

function latencyText(prev, now) {
  const n = now.count - prev.count;
  if (n <= 0) return null;
  const mean = ((now.sum - prev.sum) / n) * 1000;
  let p99 = '+Inf';
  for (let i = 0; i < now.buckets.length; i++) {
    if (now.buckets[i].count - (prev.buckets[i]?.count ?? 0) >= 0.99 * n) {
      // JSON has no Infinity: the last bucket's bound arrives as null.
      p99 = now.buckets[i].le === null ? '+Inf' : `${+(now.buckets[i].le * 1000).toPrecision(2)}`;
      break;
    }
  }
  return `${mean.toFixed(1)} ms (p99 ≤ ${p99} ms)`;
}

function noteFigures(m, v) {
  const prev = m.prevView;
  if (prev && v.at > prev.at && v.term >= prev.term) {
    const dt = (v.at - prev.at) / 1000;
    if (dt >= 0.5) {
      m.rate = Math.max(0, (v.commits - prev.commits) / dt);
      const lt = latencyText(prev.commitLatencySeconds, v.commitLatencySeconds);
      if (lt) m.latency = lt;
      m.prevView = v;
      if (v.role === 'leader') pushRate(m.rate);
    }
  } else m.prevView = v;
}

function pushRate(r) {
  page.rates.push(r);
  if (page.rates.length > 120) page.rates.shift();
  const max = Math.max(1, ...page.rates);
  const pts = page.rates.map((x, i) => `${(i / 119) * 300},${68 - (x / max) * 64}`).join(' ');
  $('#rate-chart').innerHTML = `<polyline points="${pts}"></polyline>`;
  $('#rate-now').textContent = `${r.toFixed(1)} commits/s on the leader (peak ${max.toFixed(0)})`;
}

// ----- the timeline -----

function addChange(c) {
  const key = `${c.member}/${c.at}/${c.to}/${c.term}`;
  if (page.seen.has(key)) return;
  page.seen.add(key);
  page.timeline.push(c);
  page.timeline.sort((a, b) => b.at - a.at);
  if (page.timeline.length > 200) page.timeline.length = 200;
  const m = page.members.get(c.member);
  if (m) {
    for (const p of m.card.querySelectorAll('path.edge')) p.classList.toggle('taken', p.dataset.from === c.from && p.dataset.to === c.to);
  }
  $('#timeline').innerHTML = page.timeline.map((t) => `<li data-member="${t.member}" data-to="${t.to}"><span class="when">${new Date(t.at).toLocaleTimeString()}</span> member ${t.member}: ${t.from} → <span class="${t.to === 'leader' ? 'to-leader' : ''}">${t.to}</span>, term ${t.term}<span class="cause">${escapeHtml(t.cause)}</span></li>`).join('');
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

// ----- the event streams -----

async function follow(m) {
  while (page.members.get(m.id) === m) {
    m.abort = new AbortController();
    try {
      const res = await fetch(`${page.scheme}://${m.http}/dashboard/events`, { headers: headers(false), signal: m.abort.signal, cache: 'no-store' });
      if (res.status === 401) needToken();
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      m.up = true;
      renderSummary();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          onEvent(m, buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch {
      // refused, reset or aborted: the member is down (or restarting); try again shortly
    }
    if (m.up) {
      m.up = false;
      m.prevView = undefined;
      renderSummary();
    }
    await new Promise((r) => setTimeout(r, 700));
  }
}

function onEvent(m, block) {
  let type = 'message', data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) type = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;
  const value = JSON.parse(data);
  if (type === 'history') value.forEach(addChange);
  else if (type === 'role') addChange(value);
  else if (type === 'view') {
    noteFigures(m, value);
    m.view = value;
    renderSummary();
  }
}

// ----- membership and controls -----

function upMembers(except) {
  return [...page.members.values()].filter((m) => m.up && m.http && m.id !== except);
}

async function refreshCluster(from) {
  // With nobody up (yet: before a token was entered, or all down) ask the member that served the page.
  const up = upMembers().map((m) => `${page.scheme}://${m.http}`);
  const bases = from ? [from] : up.length > 0 ? up : [location.origin];
  for (const base of bases) {
    try {
      const res = await fetch(`${base}/dashboard/cluster`, { headers: headers(false), cache: 'no-store' });
      if (res.status === 401) needToken();
      if (!res.ok) continue;
      const c = await res.json();
      page.machine ??= c.machine;
      page.controls = new Set(c.controls);
      const listed = new Set(c.members.map((x) => x.id));
      for (const x of c.members) {
        let m = page.members.get(x.id);
        if (!m) {
          m = { id: x.id, http: x.http, up: false, view: null };
          m.card = card(m);
          page.members.set(x.id, m);
          const cards = [...page.members.values()].sort((a, b) => a.id - b.id).map((y) => y.card);
          $('#members').replaceChildren(...cards);
          if (x.http) follow(m);
        }
      }
      for (const [id, m] of page.members) {
        if (!listed.has(id)) {
          page.members.delete(id);
          m.abort?.abort();
          m.card.remove();
        }
      }
      renderSummary();
      return;
    } catch {
      // try the next member
    }
  }
}

/** Sends a control to the leader ('leader') or to any live member ('any', preferring not `avoid`). */
async function control(body, where, avoid) {
  const lead = leaderView();
  let targets;
  if (where === 'leader') {
    if (!lead) return say('no leader right now; try again in a moment');
    targets = [page.members.get(lead.member)];
  } else {
    targets = [...upMembers(avoid), ...upMembers().filter((m) => m.id === avoid)];
  }
  if (targets.length === 0) return say('no member is up to take the request');
  say(`${body.action}${body.id ? ` member ${body.id}` : ''}${body.to ? ` to member ${body.to}` : ''}…`);
  for (const m of targets) {
    try {
      const res = await fetch(`${page.scheme}://${m.http}/dashboard/control`, { method: 'POST', headers: headers(true), body: JSON.stringify(body) });
      const answer = await res.json();
      if (res.status === 401) needToken();
      say(answer.message ?? answer.error ?? `HTTP ${res.status}`);
      if (res.ok && body.action === 'partition') page.members.get(body.id).partitioned = true;
      if (res.ok && body.action === 'heal') for (const x of page.members.values()) x.partitioned = false;
      if (res.ok && (body.action === 'add' || body.action === 'remove')) refreshCluster();
      renderSummary();
      return;
    } catch (err) {
      say(`member ${m.id} did not answer (${err.message}); trying another`);
    }
  }
}

$('#cluster-controls').addEventListener('click', (e) => {
  const action = e.target?.dataset?.action;
  if (!action) return;
  if (action === 'burst') return control({ action, count: Number($('#burst-count').value) || 200 }, 'any');
  if (action === 'transfer' || action === 'add') return control({ action }, 'leader');
  return control({ action }, 'any');
});

await refreshCluster(location.origin);
setInterval(() => refreshCluster(), 3000);
