// Gamepad rumble from the app (docs/protocol.md section 7, `rumble`) through the Gamepad API's
// `vibrationActuator` (Chromium, Safari) or `hapticActuators` (Firefox), where the pad has one.

/**
 * Shake pad `index` for `duration` ms; resolves to whether a pad could (false: no such pad or no
 * actuator; the app is not told, as a pad without motors is normal).
 */
export async function playRumble({ index, duration, strongMagnitude, weakMagnitude }, getGamepads = () => navigator.getGamepads?.() ?? []) {
  const pad = getGamepads()[index];
  if (!pad) return false;
  try {
    if (pad.vibrationActuator?.playEffect) {
      await pad.vibrationActuator.playEffect('dual-rumble', { startDelay: 0, duration, strongMagnitude, weakMagnitude });
      return true;
    }
    if (pad.hapticActuators?.[0]?.pulse) {
      await pad.hapticActuators[0].pulse(Math.max(strongMagnitude, weakMagnitude), duration);
      return true;
    }
  } catch (error) {
    console.warn(`gamepad ${index} could not rumble: ${error}`);
  }
  return false;
}
