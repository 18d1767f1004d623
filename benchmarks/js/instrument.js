// Installed into the page before its own scripts (Playwright add_init_script). It changes nothing the
// page does; it records when each step of a session happened (performance.now() ms) and, when the URL
// fragment asks, prefers a codec and adds the input channels of docs/protocol.md section 5.
//   #...&bench_codec=h264|vp8   put this codec first in the video transceiver's preferences
//   #...&bench_turn=HOST:PORT   send TURN to HOST:PORT (UDP) instead of the server the page was
//                               given (the network lab's impairment relay, which forwards to it);
//                               the page's STUN and TURN-over-TCP entries are left out
//   #...&bench_input=1          create the `input`/`input-motion` data channels before the offer
//                               and send a `key` message for every keydown (for servers whose page
//                               does not do so itself)
(() => {
  const params = new URLSearchParams(location.hash.slice(1));
  const bench = {
    codec: params.get('bench_codec'),
    input: params.get('bench_input') === '1',
    turn: params.get('bench_turn'),
    marks: {},
    pc: null,
    inputSent: 0,
    inputOpen: false,
  };
  window.__bench = bench;
  const mark = (name) => {
    if (!(name in bench.marks)) bench.marks[name] = performance.now();
  };

  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(url, protocols) {
      const created = performance.now();
      super(url, protocols);
      if (!('connect' in bench.marks)) bench.marks.connect = created;
      this.addEventListener('open', () => mark('ws_open'));
      this.addEventListener('message', (event) => {
        try {
          const message = JSON.parse(event.data);
          if (message.type === 'hello') mark('hello');
          else if (message.type === 'answer') mark('answer');
        } catch {
          // Not ours to judge.
        }
      });
      this.addEventListener('close', (event) => {
        bench.closeCode = event.code;
        bench.closeReason = event.reason;
      });
    }

    send(data) {
      if (typeof data === 'string' && data.includes('"offer"')) {
        try {
          if (JSON.parse(data).type === 'offer') mark('offer_sent');
        } catch {
          // Not JSON: not an offer.
        }
      }
      super.send(data);
    }
  };

  const NativePeerConnection = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeerConnection {
    constructor(config) {
      super(bench.turn ? viaTurn(config, bench.turn) : config);
      bench.pc = this;
      mark('pc_created');
      this.addEventListener('iceconnectionstatechange', () => {
        if (this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed') mark('ice_connected');
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') mark('connected');
      });
      if (bench.input) {
        const reliable = this.createDataChannel('input');
        this.createDataChannel('input-motion', { ordered: false, maxRetransmits: 0 });
        reliable.addEventListener('open', () => { bench.inputOpen = true; });
        let seq = 0;
        window.addEventListener('keydown', (event) => {
          if (reliable.readyState !== 'open') return;
          reliable.send(JSON.stringify({
            v: 1, type: 'key', seq: seq++, t: window.__benchClock.epochTime(event.timeStamp),
            action: 'down', code: event.code, key: event.key, mods: 0, repeat: event.repeat,
          }));
          bench.inputSent += 1;
        }, true);
      }
    }

    addTransceiver(trackOrKind, init) {
      const transceiver = super.addTransceiver(trackOrKind, init);
      if (trackOrKind === 'video' && bench.codec && transceiver.setCodecPreferences) {
        const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
        const wanted = `video/${bench.codec}`.toLowerCase();
        const preferred = codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
        // aiortc's H.264 is Constrained Baseline, packetization-mode 1: offer that profile first.
        preferred.sort((a, b) => score(b) - score(a));
        transceiver.setCodecPreferences([...preferred, ...codecs.filter((c) => !preferred.includes(c))]);
      }
      return transceiver;
    }
  };

  // The same TURN credentials through another address: the relay forwards them untouched, and
  // TURN's long-term credentials do not depend on the address the server is reached at.
  function viaTurn(config, address) {
    const servers = (config && config.iceServers) || [];
    const iceServers = servers
      .map((server) => {
        const urls = [].concat(server.urls).filter((url) => url.startsWith('turn:') && !url.includes('transport=tcp'));
        return { ...server, urls: urls.map(() => `turn:${address}?transport=udp`) };
      })
      .filter((server) => server.urls.length > 0)
      .map((server) => ({ ...server, urls: [server.urls[0]] }));
    return { ...config, iceServers };
  }

  function score(codec) {
    const fmtp = codec.sdpFmtpLine || '';
    return (fmtp.includes('packetization-mode=1') ? 2 : 0) + (fmtp.includes('42e01f') ? 1 : 0);
  }

  document.addEventListener('DOMContentLoaded', () => {
    const video = document.querySelector('video');
    if (video && video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => mark('first_frame'));
  });
})();
