/* chatbridge widget: one script tag, a bubble and a panel in a Shadow DOM.
   Text is only ever rendered with textContent / text nodes. */
(()=>{'use strict';
const CFG=/*CFG*/{},CSS=/*CSS*/"";
if(window.__chatbridge)return;window.__chatbridge={};
const D=document,W=window,N=Date.now;let LS;try{LS=localStorage}catch(e){}
const SRC=(D.currentScript&&D.currentScript.src)||([...D.scripts].map(s=>s.src).find(s=>/\/widget\.js(\?|#|$)/.test(s)))||location.href;
const API=new URL(SRC,location.href).origin,K='chatbridge:'+API+':',mem={};
const g=k=>{try{return JSON.parse(LS.getItem(K+k))}catch(e){return mem[k]}};
const s=(k,v)=>{mem[k]=v;try{v==null?LS.removeItem(K+k):LS.setItem(K+k,JSON.stringify(v))}catch(e){}};
const TX={en:{title:'Chat with us',greeting:'Hi! How can we help?',open:'Open chat',close:'Close chat',end:'End chat',ph:'Type your message…',send:'Send',name:'Name',email:'Email',opt:' (optional)',start:'Start chat',ended:'This chat has ended.',again:'Start a new chat',typing:' is typing…',away:"No one is available right now. Leave your email and we'll reply by email.",thanks:"Thanks! We'll reply by email.",fail:'Not sent: ',err:'Something went wrong, please try again.',unread:' unread',ed:'edited',del:'Message deleted',att:'Attach a file',big:'The file is too large: the limit is ',cbo:'%s ended the chat.',cbo0:'The operator ended the chat.',cbv:'You ended the chat.',used:'This link was already used: each works once. Write to us here.',bad:'This link has expired. Write to us here.'},
fr:{title:'Discutez avec nous',greeting:'Bonjour ! Comment pouvons-nous vous aider ?',open:'Ouvrir le chat',close:'Fermer le chat',end:'Terminer',ph:'Écrivez votre message…',send:'Envoyer',name:'Nom',email:'E-mail',opt:' (facultatif)',start:'Commencer',ended:'Cette discussion est terminée.',again:'Nouvelle discussion',typing:' écrit…',away:'Personne n’est disponible pour le moment. Laissez votre e-mail et nous vous répondrons par e-mail.',thanks:'Merci ! Nous vous répondrons par e-mail.',fail:'Non envoyé : ',err:'Une erreur est survenue, veuillez réessayer.',unread:' non lu(s)',ed:'modifié',del:'Message supprimé',att:'Joindre un fichier',big:'Le fichier est trop volumineux : la limite est de ',cbo:'%s a mis fin à la conversation.',cbo0:'L’opérateur a mis fin à la conversation.',cbv:'Vous avez mis fin à la conversation.'},used:'Ce lien a déjà servi : chacun ne sert qu’une fois. Écrivez-nous ici.',bad:'Ce lien a expiré. Écrivez-nous ici.'};
const lang=(CFG.language||navigator.language||'en').slice(0,2).toLowerCase(),T=Object.assign({},TX.en,TX[lang]||{},(CFG.texts||{})[lang]||{});
if(CFG.title)T.title=CFG.title;if(CFG.greeting)T.greeting=CFG.greeting;

// h builds an element: a.t sets textContent, on* adds listeners, the rest are attributes.
const h=(t,a,c)=>{const e=D.createElement(t);for(const k in a||{}){const v=a[k];k=='t'?e.textContent=v:k.startsWith('on')?e.addEventListener(k.slice(2),v):e.setAttribute(k,v)}(c||[]).forEach(x=>x&&e.append(x));return e};
const show=(e,v)=>e.hidden=!v;

let tok=g('tok'),conv=null,last=0,rev=0,lx=0,status='',seen=new Set,open=false,ready=0,opSeen=0,fv=0,gen=0,ws=null,fails=0,wsBad=0,wsBadAt=0,tm,ot,yt,tt=0,ac,flushing=0,sp=null;

// --- DOM ---
const host=h('chatbridge-widget');
host.style.cssText='all:initial!important;display:block!important;position:fixed!important;width:0!important;height:0!important;bottom:0!important;right:0!important;z-index:2147483647!important;visibility:visible!important;opacity:1!important;transform:none!important;contain:none!important';
const root=host.attachShadow({mode:'open'});
const ico='M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
const svg=D.createElementNS('http://www.w3.org/2000/svg','svg');svg.setAttribute('viewBox','0 0 24 24');svg.setAttribute('aria-hidden','true');
const path=D.createElementNS(svg.namespaceURI,'path');path.setAttribute('d',ico);svg.append(path);
const badge=h('span',{class:'n','aria-hidden':'true',hidden:''});
const bub=h('button',{class:'bub',type:'button','aria-label':T.open,'aria-expanded':'false','aria-controls':'cb-panel',onclick:()=>toggle(!open)},[svg,badge]);
const endB=h('button',{class:'x e',type:'button',t:T.end,hidden:'',onclick:()=>{api('conversation/close',{}).catch(()=>{})}});
const xB=h('button',{class:'x',type:'button','aria-label':T.close,t:'×',onclick:()=>toggle(false)});
const list=h('div',{class:'ls',role:'log','aria-live':'polite','aria-label':T.title});
const typ=h('div',{class:'ty','aria-live':'polite'});
const ta=h('textarea',{rows:'1','aria-label':T.ph,placeholder:T.ph,maxlength:'10000'});
const fi=h('input',{type:'file',multiple:'',hidden:'',onchange:()=>{up([...fi.files]);fi.value=''}});
const cp=h('form',{class:'cp'},[CFG.files?h('button',{class:'at',type:'button','aria-label':T.att,title:T.att,t:'📎',onclick:()=>fi.click()}):null,fi,ta,h('button',{class:'sb',type:'submit','aria-label':T.send,t:'➤'})]);
const fld=(n,ty,m)=>m&&m!='off'?h('label',{},[h('span',{t:T[n]+(m=='required'?' *':T.opt)}),h('input',Object.assign({name:n,type:ty,autocomplete:n,maxlength:'200'},m=='required'?{required:''}:{}))]):null;
const pc=h('form',{class:'pc'},[fld('name','text',CFG.prechat_name),fld('email','email',CFG.prechat_email),h('button',{class:'sb',type:'submit',t:T.start})]);
const ofIn=h('input',{type:'email',required:'',autocomplete:'email','aria-label':T.email,placeholder:T.email,maxlength:'200'});
const of=h('form',{class:'of',hidden:''},[h('p',{t:T.away}),h('div',{class:'row'},[ofIn,h('button',{class:'sb',type:'submit',t:T.send})])]);
const nw=h('div',{class:'nw',hidden:''},[h('p',{t:T.ended}),h('button',{class:'sb',type:'button',t:T.again,onclick:fresh})]);
const pn=h('div',{class:'pn',id:'cb-panel',role:'dialog','aria-label':T.title,hidden:''},[h('header',{},[h('b',{t:T.title}),endB,xB]),list,typ,of,nw,pc,cp]);
const box=h('div',{class:'cb '+(CFG.position=='left'?'l':'r')},[pn,bub]);
if(CFG.color)box.style.setProperty('--c',CFG.color);
root.append(h('style',{t:CSS}),box);

// --- helpers ---
const rid=()=>{const a=new Uint8Array(12);crypto.getRandomValues(a);return [...a].map(b=>b.toString(16).padStart(2,'0')).join('')};
async function api(p,b){
  const o={method:b?'POST':'GET',headers:{}};
  if(b){o.headers['Content-Type']='application/json';o.body=JSON.stringify(b)}
  if(tok)o.headers.Authorization='Bearer '+tok;
  const r=await fetch(API+'/api/v1/'+p,o);
  if(r.status==401&&tok&&o.headers.Authorization=='Bearer '+tok&&p!='sessions/resume')setTok(null);
  if(!r.ok){let m='';try{m=(await r.json()).error.message}catch(e){}throw{s:r.status,m}}
  return r.status==204?null:r.json()
}
function setTok(t){tok=t;s('tok',t);conv=null;last=0;rev=0;status='';seen=new Set;opSeen=0;fv=0;list.textContent='';greet();if(!t){s('em',null);s('pc',null)}if(t)sync().then(run);else stop();ui()}
// Signed identity: the site sets window.chatbridgeSettings={identity:{user_id,name,email,expires,signature}}
// before this script; the same user then has the same conversation on every device.
const ID=((W.chatbridgeSettings||{}).identity)||null;let idBad=0;
function sess(d){
  if(tok)return Promise.resolve();
  const id=ID&&ID.user_id&&!idBad?ID:null;
  return sp=sp||api('sessions',Object.assign({locale:navigator.language||''},id?{identity:id}:{},d)).then(r=>{sp=null;s('nw',null);tok=r.token;s('tok',tok);s('vid',r.visitor_id);s('uid',id?id.user_id:null);if(id)s('pc',1);run();pvFlush()},
    e=>{sp=null;if(id&&e.s==401){idBad=1;console.warn('chatbridge: the signed identity was refused:',e.m);return sess(d)}throw e})
}

// linkify appends text to el, turning http(s) URLs into safe links.
function linkify(el,t){
  const re=/https?:\/\/[^\s<>"'`]+/gi;let i=0,m;
  while((m=re.exec(t))){
    const u=m[0].replace(/[.,;:!?)\]}*_]+$/,'');let ok=0;
    try{ok=/^https?:$/.test(new URL(u).protocol)}catch(e){}
    if(!ok||!u)continue;
    el.append(t.slice(i,m.index),h('a',{href:u,target:'_blank',rel:'noopener noreferrer nofollow',t:u}));
    i=m.index+u.length;re.lastIndex=i
  }
  el.append(t.slice(i))
}
const sz=n=>n<1024?n+' B':n<1048576?Math.round(n/1024)+' KB':+(n/1048576).toFixed(1)+' MB';
// fill renders message m into its bubble b: a file (an image inline, else a
// link), the text (a system line in the visitor's language, an emote as an
// action), "edited"; a deleted message only says so.
function fill(b,m){
  b.textContent='';const f=m.file,y=m.system;let t=m.text||'';
  if(m.deleted)return b.append(h('i',{t:T.del}));
  if(f){const u=f.url&&API+f.url,x=u&&+new URL(u).searchParams.get('exp');if(x&&(!lx||x<lx))lx=x;
    b.append(h('a',u?{href:u,target:'_blank',rel:'noopener noreferrer',class:'fl'}:{class:'fl'},[f.image&&u?h('img',{src:u,alt:f.name,width:f.width,height:f.height}):'📎 '+f.name+' ('+sz(f.size)+')']));if(t)t='\n'+t}
  if(y){const k={closed_by_operator:y.name?'cbo':'cbo0',closed_by_visitor:'cbv'}[y.kind];if(k)t=T[k].replace('%s',y.name)}
  if(m.emote)t='* '+m.author+' '+t;
  linkify(b,t);if(m.edited_at)b.append(h('small',{class:'ed',t:' · '+T.ed}))
}
function msgEl(m){
  const c=m.from=='visitor'?'v':m.from=='operator'?'o':'s',b=h('div',{class:'b'}),e=h('div',{class:'m '+c},[c=='o'&&m.author?h('div',{class:'a',t:m.author}):null,b]);
  fill(b,m);if(m.at)e.title=new Date(m.at).toLocaleString();return e
}
// place inserts e in seq order; e.s is the seq (-1: greeting or an older conversation, Infinity: pending).
function place(e){
  let n=list.lastChild;while(n&&n.s>e.s)n=n.previousSibling;
  list.insertBefore(e,n?n.nextSibling:list.firstChild);
  list.scrollTop=list.scrollHeight
}
function greet(){const e=msgEl({from:'operator',text:T.greeting});e.s=-1;e.classList.add('g');place(e)}

// add shows a message of the current conversation once; a message with a
// seq already shown (edited, deleted, a fresh file link) replaces it.
function add(m,live){
  const k=conv+':'+m.seq;if(conv==g('nw'))return;
  if(seen.has(k)){const e=[...list.children].find(e=>e.s==m.seq&&!e.pend);e&&fill(e.querySelector('.b'),m);return}seen.add(k);
  if(m.seq>last)last=m.seq;
  if(m.from=='visitor'){
    if(!fv)fv=Date.parse(m.at)||N();
    const p=!m.file&&[...list.children].find(e=>e.pend&&e.txt==m.text);
    if(p){p.s=m.seq;p.pend=0;p.classList.remove('p');p.removeAttribute('aria-busy');list.removeChild(p);place(p);unpend(p.cid);return}
  }
  const e=msgEl(m);e.s=m.seq;
  if(m.from!='visitor'){e.u=1;if(m.from=='operator'){opSeen=1;typing('')}if(live&&ready&&CFG.sound&&D.visibilityState=='visible')beep()}
  place(e);badgeUp();offline()
}
// switchConv shows conversation id alone (with the greeting and pending messages).
function switchConv(id){
  conv=id;last=0;rev=0;lx=0;opSeen=0;fv=0;
  [...list.children].forEach(e=>e.pend||e.s<0||e.remove())
}
function handle(r,live){
  if(!r||!r.conversation_id)return;
  if(r.conversation_id!=conv)switchConv(r.conversation_id);
  status=r.status;rev=r.revision||rev;
  if(status=='closed'&&conv==g('nw'))status='new';
  (r.messages||[]).forEach(m=>add(m,live));ui()
}
const q=a=>'messages?after='+a+'&revision='+rev+(conv?'&conversation='+encodeURIComponent(conv):'');
// sync reads what is new; from 0 (links about to expire) it reads all again.
async function sync(a){
  if(!tok)return;if(a===0)lx=0;
  try{handle(await api(q(a===0?0:last)),ready);ready=1}catch(e){}
}
const relink=()=>lx&&lx*1e3-N()<3e5&&sync(0);

// --- unread and sound ---
function badgeUp(){
  if(open&&D.visibilityState=='visible'&&conv){s('rd',{c:conv,s:last})}
  const r=g('rd')||{},n=[...list.children].filter(e=>e.u&&e.s>(r.c==conv?r.s:0)&&e.s>0).length;
  badge.textContent=n;show(badge,n>0&&!open);bub.setAttribute('aria-label',T.open+(n&&!open?' ('+n+T.unread+')':''))
}
function beep(){
  if(!ac)return;
  try{ac.resume();const o=ac.createOscillator(),v=ac.createGain(),t=ac.currentTime;o.frequency.value=880;v.gain.setValueAtTime(.1,t);v.gain.exponentialRampToValueAtTime(.001,t+.3);o.connect(v).connect(ac.destination);o.start(t);o.stop(t+.3)}catch(e){}
}
function typing(who){clearTimeout(yt);typ.textContent=who?who+T.typing:'';if(who)yt=setTimeout(()=>typing(''),6e3)}

// --- transport: WebSocket with resume, backoff, long-poll fallback ---
function stop(){gen++;clearTimeout(tm);if(ws){ws.onclose=ws.onmessage=null;try{ws.close()}catch(e){}ws=null}}
function run(){
  stop();if(!tok)return;const my=gen;
  if(wsBad>=3&&N()-wsBadAt<12e4||!W.WebSocket)return poll(my);
  let ok=0,w;try{w=ws=new WebSocket(API.replace(/^http/,'ws')+'/api/v1/stream?after='+last+(conv?'&conversation='+encodeURIComponent(conv):''))}catch(e){wsBad=3;wsBadAt=N();return poll(my)}
  // heartbeat: this script answers the server's ping frames, which a frozen page cannot.
  w.onopen=()=>{ok=1;wsBad=0;w.send(JSON.stringify({type:'hello',token:tok,heartbeat:!0}));sync();flush()};
  w.onmessage=ev=>{let f;try{f=JSON.parse(ev.data)}catch(e){return}f.type=='ping'?w.send('{"type":"pong"}'):frame(f)};
  w.onclose=ev=>{if(my!=gen)return;ws=null;if(ev.code==4401){setTok(null);return}if(ev.code==4429)fails=Math.max(fails,6);if(!ok){wsBad++;wsBadAt=N()}retry(my)}
}
function retry(my){if(my!=gen)return;const d=Math.min(3e4,500*2**fails++);tm=setTimeout(run,d/2+Math.random()*d/2)}
async function poll(my){
  try{const r=await api(q(last)+'&wait=25');if(my!=gen)return;fails=0;handle(r,1);ready=1;flush();
    if(wsBad>=3&&N()-wsBadAt>=12e4)return run();poll(my)}
  catch(e){retry(my)}
}
function frame(f){
  if(f.type=='ready')fails=0;
  if(f.type=='message'){
    if(f.conversation_id&&f.conversation_id!=conv){if(!conv||status=='new'){switchConv(f.conversation_id);status='open'}else return void sync()}
    add(f,1);ui()
  }else if(f.type=='closed'){if(f.conversation_id==conv&&status!='new'){status='closed';ui()}}
  else if(f.type=='typing'&&f.from=='operator')typing(f.author||'')
}

// --- sending with client ids, kept until acknowledged ---
function unpend(c){s('p',(g('p')||[]).filter(x=>x.c!=c))}
function pendEl(p){const e=msgEl({from:'visitor',text:p.t});e.s=1/0;e.pend=1;e.txt=p.t;e.cid=p.c;e.classList.add('p');e.setAttribute('aria-busy','true');place(e);return e}
const pre=()=>{if(!fv)fv=N();if(status=='new'||status=='closed')status=''};
function send(t){
  t=t.trim();if(!t)return;
  const p={c:rid(),t};s('p',(g('p')||[]).concat(p));pendEl(p);pre();flush()
}
// ack takes the server's answer r for the pending element e (a text or a file).
function ack(e,r){
  if(r.conversation_id!=conv){switchConv(r.conversation_id);status='open';fv=N()}
  if(e){const k=conv+':'+r.seq;if(seen.has(k)&&e.pend)e.remove();else if(e.pend){seen.add(k);e.s=r.seq;e.pend=0;e.classList.remove('p');e.removeAttribute('aria-busy');e.remove();place(e);if(r.seq>last)last=r.seq}}
}
// up sends files; the upload code is fetched on first use.
let FM;
function up(fs){
  if(!fs.length)return;
  FM=FM||new Promise((ok,no)=>{const x=h('script',{src:API+'/widget-files.js'});x.onload=()=>ok(W.__chatbridge.f({h,T,API,CFG,lang,sz,rid,pre,ack,fill,place,list,ui,sess,tok:()=>tok}));x.onerror=()=>{FM=0;no()};D.head.append(x)});
  FM.then(u=>u(fs),()=>{})
}
async function flush(){
  if(flushing){flushing=2;return}flushing=1;let again=0;
  try{
    await sess();
    for(const p of g('p')||[]){
      let e=[...list.children].find(x=>x.cid==p.c);if(!e)e=pendEl(p);
      try{
        const r=await api('messages',{client_id:p.c,text:p.t});unpend(p.c);ack(e,r)
      }catch(x){
        if(x.s>=400&&x.s<500&&![401,408,425,429].includes(x.s)){unpend(p.c);if(e){e.pend=0;e.classList.replace('p','f');e.removeAttribute('aria-busy');e.append(h('div',{class:'a',t:T.fail+(x.m||x.s)}))}}
        else{again=1;break}
      }
    }
  }catch(x){again=1}
  const more=flushing==2;flushing=0;ui();
  if(again)setTimeout(flush,3e3+Math.random()*2e3);else if(more)flush()
}

// --- offline prompt: ask for an email when no operator answered in time ---
function offline(){
  clearTimeout(ot);
  const due=fv+(CFG.offline_after||0)*1e3-N();
  if(!CFG.offline_after||!fv||opSeen||g('em')||status=='closed'||status=='new'||!tok){show(of,0);return}
  if(due>0){ot=setTimeout(offline,due);return}
  if(of.hidden){show(of,1);list.scrollTop=list.scrollHeight}
}
of.onsubmit=ev=>{ev.preventDefault();if(!ofIn.checkValidity())return;
  api('visitor',{email:ofIn.value.trim()}).then(()=>{s('em',1);of.replaceWith(h('p',{class:'ok',t:T.thanks,role:'status'}));ta.focus()},()=>{})};

// --- panel ---
function ui(){
  const pre=!tok&&pc.querySelector('input')&&!g('pc'),end=list.scrollHeight-list.scrollTop-list.clientHeight<9;
  show(pc,pre);show(cp,!pre&&status!='closed');show(nw,status=='closed');show(endB,status=='open');
  if(end)list.scrollTop=list.scrollHeight;badgeUp();offline()
}
function toggle(v){
  open=v;show(pn,v);box.classList.toggle('op',v);bub.setAttribute('aria-expanded',v);s('open',v||null);
  if(v){try{ac=ac||new(W.AudioContext||W.webkitAudioContext)}catch(e){}ui();relink();list.scrollTop=list.scrollHeight;(!pc.hidden?pc.querySelector('input'):!nw.hidden?nw.querySelector('button'):ta).focus()}
  else{bub.focus();badgeUp()}
}
// fresh starts a new chat: from the button (ev), or after another tab did.
function fresh(ev){s('nw',conv);status='new';opSeen=0;fv=0;list.textContent='';seen=new Set;greet();ui();ev&&ta.focus()}
box.addEventListener('keydown',e=>{if(e.key=='Escape'){e.stopPropagation();toggle(false)}});
cp.onsubmit=e=>{e.preventDefault();send(ta.value);ta.value='';ta.focus()};
ta.addEventListener('keydown',e=>{if(e.key=='Enter'&&!e.shiftKey&&!e.isComposing){e.preventDefault();cp.requestSubmit()}});
if(CFG.files){ta.addEventListener('paste',e=>{const f=[...(e.clipboardData||{}).files||[]];if(f.length){e.preventDefault();up(f)}});
  pn.addEventListener('dragover',e=>{if([...e.dataTransfer.types].includes('Files')){e.preventDefault();pn.classList.add('dz')}});
  pn.addEventListener('dragleave',e=>{if(!pn.contains(e.relatedTarget))pn.classList.remove('dz')});
  pn.addEventListener('drop',e=>{pn.classList.remove('dz');const f=[...e.dataTransfer.files];if(f.length){e.preventDefault();up(f)}})}
ta.addEventListener('input',()=>{if(tok&&N()-tt>2e3&&ta.value){tt=N();ws&&ws.readyState==1?ws.send('{"type":"typing"}'):api('typing',{}).catch(()=>{})}});
pc.onsubmit=e=>{e.preventDefault();const d={};pc.querySelectorAll('input').forEach(i=>{if(i.value.trim())d[i.name]=i.value.trim()});
  sess(d).then(()=>{s('pc',1);if(d.email)s('em',1);ui();ta.focus()},()=>{pc.append(h('p',{class:'er',role:'alert',t:T.err}))})};

// --- page views on load and on history navigation ---
let pu='';
function pv(){setTimeout(()=>{const u=location.href;if(u==pu)return;const d={url:u,title:D.title,referrer:pu||D.referrer};pu=u;
  if(tok)api('pageviews',d).catch(()=>{});else s('pq',(g('pq')||[]).concat(d).slice(-20))},50)}
async function pvFlush(){const q=g('pq')||[];s('pq',null);for(const d of q)await api('pageviews',d).catch(()=>{})}

// --- start ---
const here=new URL(location.href),code=here.searchParams.get('chatbridge_resume');
if(code){here.searchParams.delete('chatbridge_resume');history.replaceState(history.state,'',here)}
['pushState','replaceState'].forEach(k=>{const o=history[k];history[k]=function(){const r=o.apply(this,arguments);pv();return r}});
W.addEventListener('popstate',pv);
W.addEventListener('online',()=>{if(tok){fails=0;run()}flush()});
W.addEventListener('storage',e=>{const k=e.key,v=()=>JSON.parse(e.newValue);if(k==K+'tok'&&v()!=tok){setTok(v())}else if(k==K+'rd')badgeUp();else if(k==K+'nw'&&conv&&v()==conv)fresh()});
// A page in the back/forward cache must not look present.
W.addEventListener('pagehide',e=>{if(e.persisted)stop()});
W.addEventListener('pageshow',e=>{if(e.persisted){pu='';pv();if(tok){fails=0;run()}}});
D.addEventListener('visibilitychange',()=>{if(open){badgeUp();relink()}});
D.documentElement.append(host);
greet();ui();
// A token of another signed-in user, of a user who signed out, or an anonymous
// one when a user signs in, is not this page's user's.
if(tok&&(g('uid')||null)!==((ID&&ID.user_id)||null)){tok=null;['tok','vid','uid','pc','em','p'].forEach(k=>s(k,null))}
// A resume link works once: opened again where it already worked, it is not sent.
(code&&!(tok&&g('vid')&&code.startsWith(g('vid')+'.'))?api('sessions/resume',{code}).then(r=>{s('nw',null);s('pc',1);s('em',1);s('open',1);tok=r.token;s('tok',tok);s('vid',r.visitor_id)},
  e=>{if(e.s==410||e.s==401){const m=msgEl({from:'system',text:e.s==410?T.used:T.bad});m.s=-1;m.classList.add('rs');place(m);s('open',1)}}):Promise.resolve()).then(()=>{
  if(!tok&&ID&&ID.user_id)sess({}).catch(()=>{});
  pv();if(tok)sync().then(run)
  if((g('p')||[]).length)flush();
  if(g('open'))toggle(true)
})
})();
