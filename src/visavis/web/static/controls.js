// What the user can do: type and send (Enter), speak (mic), mute, toggle the avatar (Alt+V),
// interrupt (Esc), end, and pick the video quality (Alt+Q cycles it).

export const QUALITIES = ["auto", "high", "medium", "low"];
const QUALITY_KEY = "visavis.quality";
const MUTED_KEY = "visavis.muted";

function stored(key, fallback) {
  try {
    return window.localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback; // storage can be blocked (third-party frames, private modes)
  }
}

function store(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // not kept across visits; nothing else depends on it
  }
}

/** The quality the user chose last time (``auto`` at first). */
export function savedQuality() {
  const value = stored(QUALITY_KEY, "auto");
  return QUALITIES.includes(value) ? value : "auto";
}

export function bindControls(page, conversation, speech) {
  const submit = (sentAt) => {
    const text = page.input.value;
    if (conversation.sendText(text, sentAt)) {
      page.input.value = "";
      page.input.focus();
    }
  };

  page.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(event.timeStamp || performance.now());
  });
  page.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit(event.timeStamp || performance.now());
    }
  });

  page.interrupt.addEventListener("click", () => conversation.interrupt());
  page.end.addEventListener("click", () => conversation.end());
  page.toggleAvatar.addEventListener("click", () => conversation.toggleAvatar());

  let muted = stored(MUTED_KEY, "false") === "true";
  const applyMuted = () => {
    page.setMuted(muted);
    conversation.setMuted(muted);
  };
  page.mute.addEventListener("click", () => {
    muted = !muted;
    store(MUTED_KEY, String(muted));
    applyMuted();
  });
  applyMuted();

  const setQuality = (level) => {
    page.quality.value = level;
    store(QUALITY_KEY, level);
    conversation.setQuality(level);
  };
  page.quality.addEventListener("change", () => setQuality(page.quality.value));
  setQuality(savedQuality());

  page.setMic({ available: speech.available, listening: false, reason: speech.unavailableReason });
  page.mic.addEventListener("click", () => speech.toggle());
  // Push-to-talk: hold Space anywhere but in a field or on a button (where Space types or clicks).
  const pushToTalk = (event) =>
    event.code === "Space" && !event.altKey && !event.ctrlKey && !event.metaKey &&
    !(event.target instanceof HTMLElement && event.target.closest("input, textarea, select, button"));
  document.addEventListener("keydown", (event) => {
    if (!pushToTalk(event)) return;
    event.preventDefault();
    if (!event.repeat) speech.hold(true);
  });
  document.addEventListener("keyup", (event) => {
    if (event.code === "Space" && speech.held) {
      event.preventDefault();
      speech.hold(false);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyV") {
      event.preventDefault();
      conversation.toggleAvatar();
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyQ") {
      event.preventDefault();
      const next = QUALITIES[(QUALITIES.indexOf(page.quality.value) + 1) % QUALITIES.length];
      setQuality(next);
      conversation.notice(`Video quality: ${next}`);
    } else if (event.key === "Escape" && !event.isComposing) {
      event.preventDefault();
      conversation.interrupt();
    }
  });

  return { setQuality };
}
