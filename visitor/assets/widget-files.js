/* chatbridge widget: sending files. widget.js fetches this script the first
   time the visitor attaches, pastes or drops a file, and calls
   __chatbridge.f with its helpers; the function returned sends files one at
   a time, each shown at once with a preview and a progress bar, then as the
   message, or with the reason it was refused. Names are only ever text. */
(()=>{'use strict';
window.__chatbridge.f=X=>{
  const {h,T,API,CFG,sz,rid,pre,ack,fill,place,ui,sess}=X,
  // Refusals in the visitor's language, by error.reason (else the server's English message).
  R={fr:{empty:'Le fichier est vide.',type:'Ce type de fichier n’est pas accepté : envoyez un PDF, un PNG ou un JPEG.',damaged:'Le fichier est endommagé ou incomplet.',quota:'Vous avez atteint la limite de fichiers pour aujourd’hui dans cette discussion.'}}[X.lang]||{};
  let chain=Promise.resolve();
  function one(f){
    const b=h('div',{class:'b'}),bar=h('progress',{max:'1',value:'0'}),e=h('div',{class:'m v p','aria-busy':'true'},[b,bar]);
    const img=/^image\/(png|jpeg|gif|webp)$/.test(f.type)&&URL.createObjectURL(f),done=()=>{img&&URL.revokeObjectURL(img);ui()};
    e.s=1/0;e.pend=1;
    const t='📎 '+f.name+' ('+sz(f.size)+')';
    b.append(img?h('img',{src:img,alt:f.name}):t);
    place(e);pre();ui();
    const fail=m=>{b.replaceChildren(t);e.pend=0;e.classList.replace('p','f');e.removeAttribute('aria-busy');bar.remove();e.append(h('div',{class:'a',role:'alert',t:T.fail+m}));done()};
    if(CFG.files&&f.size>CFG.files)return fail(T.big+sz(CFG.files));
    const c=rid();
    chain=chain.then(()=>sess().then(()=>new Promise(res=>{
      const x=new XMLHttpRequest();
      x.open('POST',API+'/api/v1/files?client_id='+c+'&name='+encodeURIComponent(f.name||'file'));
      x.setRequestHeader('Authorization','Bearer '+X.tok());
      x.upload.onprogress=p=>{if(p.lengthComputable)bar.value=p.loaded/p.total};
      x.onload=()=>{
        let r={};try{r=JSON.parse(x.responseText)}catch(_){}
        if(x.status==200&&r.file){bar.remove();fill(b,{file:r.file});ack(e,r);done()}
        else{const e=r.error||{};fail(e.reason=='too_large'&&CFG.files?T.big+sz(CFG.files):R[e.reason]||e.message||T.err)}
        res()
      };
      x.onerror=x.onabort=()=>{fail(T.err);res()};
      x.send(f)
    }),()=>fail(T.err)))
  }
  return fs=>fs.forEach(one)
}})();
