// chatbridge inbox: live updates over Server-Sent Events, sending with Enter.
// Text from visitors and operators is only ever put into the page with
// textContent, never as HTML.
(function () {
  'use strict';

  var body = document.body;
  var convID = body.dataset.conversation || '';
  var visitorID = body.dataset.visitor || '';
  var status = body.dataset.status === 'closed' ? 'closed' : 'open';
  var lastSeq = Number(body.dataset.lastSeq || 0);
  // revision is the conversation's count of public changes the page has
  // read: passed back, it brings the messages edited or deleted since.
  var revision = Number(body.dataset.revision || 0);
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';
  var baseTitle = document.title;

  // el makes an element with a class and text (as text, never HTML).
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function ago(iso) {
    var d = (Date.now() - Date.parse(iso)) / 1000;
    if (!(d >= 60)) return 'just now';
    if (d < 3600) return Math.floor(d / 60) + ' min';
    if (d < 48 * 3600) return Math.floor(d / 3600) + ' h';
    return Math.floor(d / 86400) + ' d';
  }

  function timeAgo(iso) {
    var t = el('time', '', ago(iso));
    t.dateTime = iso;
    t.dataset.ago = '';
    return t;
  }

  function clock(iso) {
    var d = new Date(iso);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  function isWebLink(s) {
    try {
      var u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch (e) {
      return false;
    }
  }

  // linkify appends text to parent as text nodes, with the http(s) URLs in it
  // as links that open in a new tab without access to this page (the
  // widget's rule: trailing punctuation is not part of the link). Only text
  // nodes and <a> elements with a checked href are made, never HTML.
  var urlRE = /https?:\/\/[^\s<>"'`]+/gi;
  function linkify(parent, text) {
    var i = 0, m;
    urlRE.lastIndex = 0;
    while ((m = urlRE.exec(text))) {
      var u = m[0].replace(/[.,;:!?)\]}*_]+$/, '');
      if (!isWebLink(u)) continue;
      parent.appendChild(document.createTextNode(text.slice(i, m.index)));
      var a = el('a', '', u);
      a.href = u;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      parent.appendChild(a);
      i = m.index + u.length;
      urlRE.lastIndex = i;
    }
    parent.appendChild(document.createTextNode(text.slice(i)));
  }

  function newEventID() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return x.toString(16).padStart(2, '0'); }).join('');
  }

  // privateText reports whether text starts like something the visitor never
  // sees: a command ("!", "/"), a note (";;"), a canned shortcut (":"), or a
  // fullwidth or look-alike form of these, after white space and invisible
  // characters (as the commands package reads it, and then some: one ";" is
  // enough here).
  var leadingInvisible = /^[\s\u2800\p{Default_Ignorable_Code_Point}\p{Cf}\p{Mn}\p{Me}]+/u;
  function privateText(text) {
    var c = text.replace(leadingInvisible, '').charAt(0);
    if (c === '') return false;
    return '!/;:'.indexOf(c.normalize('NFKC').charAt(0)) >= 0 || c === '\u01C3'; // ǃ (click letter)
  }

  function toLogin() {
    location.assign('/inbox/login?next=' + encodeURIComponent(location.pathname + location.search));
  }

  // api fetches JSON from the inbox; a 401 sends the operator to log in.
  function api(url, opts) {
    opts = opts || {};
    opts.credentials = 'same-origin';
    opts.headers = Object.assign({ 'Accept': 'application/json' }, opts.headers || {});
    return fetch(url, opts).then(function (res) {
      if (res.status === 401) {
        toLogin();
        throw new Error('logged out');
      }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
        return data;
      });
    });
  }

  // --- conversation list ---

  function renderList(items) {
    var ul = document.getElementById('conversations');
    if (!ul) return;
    var frag = document.createDocumentFragment();
    var unread = 0;
    if (!items.length) frag.appendChild(el('li', 'empty', 'No ' + status + ' conversations.'));
    items.forEach(function (c) {
      var current = c.id === convID;
      var li = el('li', 'conv' + (c.waiting ? ' waiting' : '') + (c.status === 'closed' ? ' closed' : '') + (current ? ' current' : ''));
      li.dataset.id = c.id;
      var a = el('a');
      a.href = '/inbox/c/' + encodeURIComponent(c.id) + (status === 'closed' ? '?status=closed' : '');
      var row = el('span', 'row');
      row.appendChild(el('bdi', 'name', c.visitor_name));
      if (c.unread && !current) {
        unread += c.unread;
        var badge = el('span', 'badge', c.unread >= 100 ? '99+' : c.unread);
        badge.title = 'unread messages';
        row.appendChild(badge);
      }
      a.appendChild(row);
      a.appendChild(el('bdi', 'preview', c.preview || ''));
      var meta = el('span', 'meta');
      if (c.status === 'closed') {
        meta.textContent = 'closed';
      } else if (c.waiting) {
        meta.appendChild(document.createTextNode('waiting '));
        meta.appendChild(timeAgo(c.waiting_since));
      } else {
        meta.appendChild(timeAgo(c.updated_at));
      }
      a.appendChild(meta);
      li.appendChild(a);
      frag.appendChild(li);
    });
    ul.replaceChildren(frag);
    document.title = (unread ? '(' + unread + ') ' : '') + baseTitle;
  }

  // refreshList refetches the list, at most once per listEvery ms and never
  // twice at once: a visitor flooding name changes or page views must not
  // make every open inbox hammer the server. A call while a fetch runs or
  // during the pause is not lost: one fetch follows it (trailing edge).
  var listEvery = 750;
  var listBusy = false, listAgain = false, listTimer = 0, listLast = -Infinity;
  function refreshList() {
    if (listBusy) { listAgain = true; return; }
    if (listTimer) return;
    var wait = listLast + listEvery - performance.now();
    if (wait > 0) {
      listTimer = setTimeout(function () { listTimer = 0; refreshList(); }, wait);
      return;
    }
    listBusy = true;
    listLast = performance.now();
    api('/inbox/api/conversations?status=' + status)
      .then(function (data) { renderList(data.conversations || []); })
      .catch(function () {})
      .then(function () {
        listBusy = false;
        if (listAgain) { listAgain = false; refreshList(); }
      });
  }

  // --- open conversation ---

  var transcript = document.getElementById('transcript');
  var convStatusEl = document.getElementById('conv-status');
  var convClosed = !!convStatusEl && convStatusEl.classList.contains('closed');

  // --- the visitor is typing ---

  // A visitor typing event shows "<name> is typing…" for typingShowFor ms
  // (each new event restarts it); a visitor message or the end of the chat
  // hides it at once. The live region's text changes only when it appears or
  // goes, so screen readers announce it once.
  var typingShowFor = 5000;
  var typingBox = document.getElementById('typing');
  var typingTimer = 0;
  function showTyping() {
    if (!typingBox || convClosed) return;
    var nameEl = document.getElementById('conv-name');
    var who = (nameEl && nameEl.textContent) || 'The visitor';
    if (typingBox.textContent !== who + ' is typing…') {
      // In a <bdi>: a name with bidi controls cannot reorder the words after it.
      typingBox.textContent = '';
      typingBox.appendChild(el('bdi', '', who));
      typingBox.appendChild(document.createTextNode(' is typing…'));
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, typingShowFor);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = 0;
    if (typingBox && typingBox.textContent !== '') typingBox.textContent = '';
  }

  function fileSize(n) {
    if (n >= 1048576) return (n % 1048576 ? (n / 1048576).toFixed(1) : n / 1048576) + ' MB';
    if (n >= 1024) return Math.floor(n / 1024) + ' KB';
    return n + ' bytes';
  }

  // renderFile shows a message's file: an image inline, anything else as a
  // download link (the server sends every file as a download).
  function renderFile(f) {
    var box = el('div', 'file');
    if (f.image && f.url) {
      var a = el('a');
      a.href = f.url;
      a.target = '_blank';
      a.rel = 'noopener';
      var img = el('img');
      img.src = f.url;
      img.alt = f.name;
      if (f.width) { img.width = f.width; img.height = f.height; }
      a.appendChild(img);
      box.appendChild(a);
      return box;
    }
    var name = f.url ? el('a', '', '📎 ' + f.name) : el('span', '', '📎 ' + f.name);
    if (f.url) { name.href = f.url; name.setAttribute('download', ''); }
    box.appendChild(name);
    box.appendChild(document.createTextNode(' '));
    box.appendChild(el('span', 'size', '(' + fileSize(f.size) + ')'));
    return box;
  }

  function renderMessage(m) {
    var li = el('li', 'msg from-' + m.from + ' vis-' + m.visibility + (m.own ? ' own' : '') + (m.deleted ? ' deleted' : ''));
    li.dataset.seq = m.seq;
    var head = el('div', 'msg-head');
    head.appendChild(el('bdi', 'author', m.author));
    if (m.visibility === 'note') head.appendChild(el('span', 'tag', 'note'));
    if (m.visibility === 'whisper') head.appendChild(el('span', 'tag', 'only you'));
    if (m.deleted) head.appendChild(el('span', 'tag', 'deleted'));
    else if (m.edited_at) head.appendChild(el('span', 'edited', 'edited'));
    var t = el('time', '', clock(m.at));
    t.dateTime = m.at;
    head.appendChild(t);
    li.appendChild(head);
    if (m.deleted) {
      li.appendChild(el('p', 'text gone', 'Message deleted.'));
      return li;
    }
    if (m.file) li.appendChild(renderFile(m.file));
    if (m.text || !m.file) {
      var text = el('p', 'text' + (m.emote ? ' emote' : ''));
      linkify(text, m.emote ? '* ' + m.author + ' ' + m.text : m.text);
      li.appendChild(text);
    }
    if (m.editable) {
      var actions = el('div', 'msg-actions');
      actions.appendChild(el('button', 'link edit', 'Edit'));
      actions.appendChild(document.createTextNode(' '));
      actions.appendChild(el('button', 'link delete', 'Delete'));
      actions.querySelectorAll('button').forEach(function (b) { b.type = 'button'; });
      li.appendChild(actions);
      li.dataset.text = m.text;
    }
    return li;
  }

  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
  }

  function scrollDown() {
    transcript.scrollTop = transcript.scrollHeight;
  }

  function appendMessages(msgs, force) {
    var stick = force || nearBottom();
    msgs.forEach(function (m) {
      if (m.seq <= lastSeq) {
        // An edited or deleted message: replace the copy shown, unless
        // its author is editing it right now.
        var old = transcript.querySelector('li[data-seq="' + m.seq + '"]');
        if (old && !old.classList.contains('editing')) old.replaceWith(renderMessage(m));
        return;
      }
      if (m.from === 'visitor') hideTyping();
      transcript.appendChild(renderMessage(m));
      lastSeq = m.seq;
    });
    if (stick) scrollDown();
  }

  function setField(name, value) {
    var dd = document.querySelector('#context [data-field="' + name + '"]');
    if (!dd) return;
    if (name === 'current_url' && value && isWebLink(value)) {
      var a = el('a', '', value);
      a.href = value;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      dd.replaceChildren(a);
    } else {
      dd.textContent = value || '';
    }
  }

  function renderContext(v) {
    ['name', 'email', 'current_url', 'referrer', 'language', 'browser'].forEach(function (f) { setField(f, v[f]); });
    var browser = document.querySelector('#context [data-field="browser"]');
    if (browser) browser.title = v.user_agent || '';
    var pages = document.getElementById('pages');
    if (!pages) return;
    var frag = document.createDocumentFragment();
    (v.pages || []).forEach(function (p) {
      var li = el('li');
      li.appendChild(el('span', 'page-title', p.title || p.url));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(el('span', 'page-url', p.url));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(timeAgo(p.at));
      frag.appendChild(li);
    });
    pages.replaceChildren(frag);
  }

  function renderStatus(c) {
    convClosed = c.status === 'closed';
    if (convClosed) hideTyping();
    var s = document.getElementById('conv-status');
    if (s) {
      s.className = 'status ' + c.status;
      s.textContent = c.status === 'closed' ? 'Closed' : (c.waiting ? 'Waiting' : 'Open');
    }
    var banner = document.getElementById('closed-banner');
    if (banner) banner.hidden = c.status !== 'closed';
    var actions = document.getElementById('conv-actions');
    if (actions) actions.hidden = convClosed;
    var leaveForm = document.getElementById('leave-form');
    if (leaveForm) leaveForm.hidden = !c.following;
    var replyText = document.getElementById('reply-text');
    if (replyText) replyText.disabled = convClosed;
    var replySend = document.getElementById('reply-send');
    if (replySend) replySend.disabled = convClosed;
    var replyFile = document.getElementById('reply-file');
    if (replyFile) replyFile.disabled = convClosed;
    var name = document.getElementById('conv-name');
    if (name) name.textContent = c.visitor_name;
  }

  var convBusy = false, convAgain = false;
  function refreshConv(force) {
    if (!convID || !transcript) return Promise.resolve();
    if (convBusy) { convAgain = true; return Promise.resolve(); }
    convBusy = true;
    return api('/inbox/api/conversations/' + encodeURIComponent(convID) + '?after=' + lastSeq + '&revision=' + revision)
      .then(function (data) {
        appendMessages(data.messages || [], force);
        if (data.revision) revision = data.revision;
        renderStatus(data.conversation);
        renderContext(data.visitor);
      })
      .catch(function () {})
      .then(function () {
        convBusy = false;
        if (convAgain) { convAgain = false; return refreshConv(force); }
      });
  }

  // --- live updates ---

  var live = document.getElementById('live');
  function setLive(on) {
    if (!live) return;
    live.className = 'live ' + (on ? 'on' : 'off');
    live.title = on ? 'Live updates on' : 'Reconnecting…';
  }

  var backoff = 1000;
  function connect() {
    var es = new EventSource('/inbox/events');
    es.onopen = function () {
      backoff = 1000;
      setLive(true);
      refreshConv().then(refreshList); // catch up on what happened while away
    };
    es.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      var here = convID && ev.conversation_id === convID;
      var mine = here || (convID && ev.kind === 'updated' && ev.visitor_id === visitorID);
      if (ev.kind === 'typing') {
        // Nothing to fetch: the event says all there is.
        if (here && ev.from === 'visitor') showTyping();
        return;
      }
      if (here && ((ev.kind === 'message' && ev.from === 'visitor') || ev.kind === 'closed')) hideTyping();
      if (mine) refreshConv().then(refreshList);
      else refreshList();
    };
    es.onerror = function () {
      setLive(false);
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (logged out?) or is gone: check the
        // session, then try again later.
        refreshList();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      }
    };
  }

  // --- sending ---

  var form = document.getElementById('reply');
  if (form) {
    var textarea = form.querySelector('textarea');
    var eventInput = form.querySelector('input[name="event_id"]');
    var errorBox = document.getElementById('reply-error');
    var sending = false;

    var fileInput = document.getElementById('reply-file');
    var hasFile = function () { return !!(fileInput && fileInput.files && fileInput.files.length); };

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (sending || (!textarea.value.trim() && !hasFile())) return;
      sending = true;
      form.classList.add('sending');
      var data = new FormData(form);
      var opts = { method: 'POST', headers: { 'X-CSRF-Token': csrf } };
      if (hasFile()) {
        opts.body = data; // multipart, with the file
      } else {
        data.delete('file');
        opts.headers['Content-Type'] = 'application/x-www-form-urlencoded';
        opts.body = new URLSearchParams(data).toString();
      }
      api(form.action, opts).then(function () {
        textarea.value = '';
        if (fileInput) fileInput.value = '';
        errorBox.textContent = '';
        eventInput.value = newEventID(); // the next message is a new event
        return refreshConv(true);
      }).catch(function (err) {
        // Keep the text and the event id: a retry of a send that did get
        // through is recognised as a duplicate.
        errorBox.textContent = err.message;
      }).then(function () {
        sending = false;
        form.classList.remove('sending');
        textarea.focus();
      });
    });

    // Tell the visitor the operator is typing, at most once per typingEvery
    // ms (the server coalesces to the same rate), while the box holds text
    // the visitor will see: never for a command, a note or a canned
    // shortcut, never for a closed conversation. No text is sent.
    var typingEvery = 2000;
    var typingSent = -Infinity;
    textarea.addEventListener('input', function () {
      var text = textarea.value;
      if (convClosed || !text.trim() || privateText(text)) return;
      var now = performance.now();
      if (now - typingSent < typingEvery) return;
      typingSent = now;
      // Plain fetch, not api(): a lost session must not take the operator
      // away from the draft (sending it does that, with the text kept).
      fetch('/inbox/c/' + encodeURIComponent(convID) + '/typing', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf }
      }).catch(function () {});
    });

    // A pasted screenshot becomes the attached file.
    textarea.addEventListener('paste', function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (!fileInput || !files || !files.length) return;
      e.preventDefault();
      var dt = new DataTransfer();
      dt.items.add(files[0]);
      fileInput.files = dt.files;
    });

    textarea.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
      e.preventDefault();
      if (form.requestSubmit) form.requestSubmit();
      else form.dispatchEvent(new Event('submit', { cancelable: true }));
    });
    textarea.focus();
  }

  // --- close and leave ---

  // The header's "Close chat" and "Leave" forms work without the script (a
  // plain POST and a redirect); with it they post in the background, "Close
  // chat" after a confirmation, and the page updates in place. The result
  // (the closing line, the "You left" whisper) arrives like any message.
  var actionsBox = document.getElementById('conv-actions');
  function bindAction(id, question, after) {
    var f = document.getElementById(id);
    if (!f || !actionsBox) return;
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      if (actionsBox.classList.contains('busy')) return;
      if (question && !window.confirm(question)) return;
      actionsBox.classList.add('busy');
      var errorBox = document.getElementById('reply-error');
      api(f.action, {
        method: 'POST',
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(f)).toString()
      }).then(function () {
        if (errorBox) errorBox.textContent = '';
        return refreshConv(true);
      }).then(after).catch(function (err) {
        if (errorBox) errorBox.textContent = err.message;
      }).then(function () {
        actionsBox.classList.remove('busy');
      });
    });
  }
  // focusAfter keeps the keyboard focus on the page when the button that
  // had it disappears.
  function focusAfter() {
    var t = document.getElementById('reply-text');
    if (t && !t.disabled) { t.focus(); return; }
    var banner = document.getElementById('closed-banner');
    if (banner && !banner.hidden) banner.focus();
  }
  bindAction('close-form', 'Close this chat? The visitor will see that it has ended.', focusAfter);
  bindAction('leave-form', '', focusAfter);

  // --- editing and deleting one's own replies ---

  function post(url, fields) {
    var data = new URLSearchParams(fields);
    data.set('event_id', newEventID());
    return api(url, {
      method: 'POST',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: data.toString()
    });
  }

  function changeFailed(err) {
    var errorBox = document.getElementById('reply-error');
    if (errorBox) errorBox.textContent = err.message;
  }

  function startEdit(li) {
    if (li.classList.contains('editing')) return;
    li.classList.add('editing');
    var text = li.querySelector('.text');
    var box = el('form', 'edit-box');
    var input = el('textarea');
    input.value = li.dataset.text || '';
    input.setAttribute('aria-label', 'Edit your reply');
    var save = el('button', '', 'Save');
    save.type = 'submit';
    var cancel = el('button', 'link', 'Cancel');
    cancel.type = 'button';
    box.appendChild(input);
    box.appendChild(save);
    box.appendChild(cancel);
    if (text) text.hidden = true;
    li.appendChild(box);
    input.focus();
    var done = function () {
      li.classList.remove('editing');
      box.remove();
      if (text) text.hidden = false;
    };
    cancel.addEventListener('click', done);
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') done();
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); box.requestSubmit(); }
    });
    box.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!input.value.trim() || input.value === li.dataset.text) { done(); return; }
      post('/inbox/c/' + encodeURIComponent(convID) + '/edit', { seq: li.dataset.seq, text: input.value })
        .then(function () { done(); return refreshConv(); })
        .catch(changeFailed);
    });
  }

  if (transcript) {
    transcript.addEventListener('click', function (e) {
      var b = e.target.closest('.msg-actions button');
      if (!b) return;
      var li = b.closest('li.msg');
      if (b.classList.contains('edit')) { startEdit(li); return; }
      if (!window.confirm('Delete this message? The visitor will see that it was deleted.')) return;
      post('/inbox/c/' + encodeURIComponent(convID) + '/delete', { seq: li.dataset.seq })
        .then(function () { return refreshConv(); })
        .catch(changeFailed);
    });
  }

  // --- start ---

  setInterval(function () {
    document.querySelectorAll('time[data-ago]').forEach(function (t) { t.textContent = ago(t.dateTime); });
  }, 30000);
  if (transcript) {
    // The server renders messages as plain text; their links are made here.
    transcript.querySelectorAll('.msg .text').forEach(function (p) {
      var text = p.textContent;
      p.textContent = '';
      linkify(p, text);
    });
    transcript.querySelectorAll('.msg-actions').forEach(function (a) { a.hidden = false; });
    scrollDown();
  }
  if (window.EventSource) connect();
})();
