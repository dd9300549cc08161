import { invalidRequest } from './errors.js';
import type { PaymentIntentObject } from './objects.js';
import { automaticRequest, type StripeStore } from './store.js';

/**
 * The cardholder passes 3-D Secure for a PaymentIntent waiting on it, on session (Stripe.js on the
 * billing page confirming the intent): an intent in `requires_action`, or one an off-session attempt
 * left in `requires_payment_method` with the `authentication_required` soft decline, succeeds with
 * its full amount received and `payment_intent.succeeded` is sent. Any other intent is a 400, as
 * Stripe refuses to confirm it.
 */
export function completeAuthentication(store: StripeStore, paymentIntentId: string): PaymentIntentObject {
  const intent = store.paymentIntents.get(paymentIntentId);
  if (!intent) throw invalidRequest(`No such payment_intent: '${paymentIntentId}'`, 'intent');
  const softDeclined =
    intent.status === 'requires_payment_method' &&
    intent.last_payment_error?.code === 'authentication_required';
  if (intent.status !== 'requires_action' && !softDeclined) {
    throw invalidRequest(
      `This PaymentIntent's status is ${intent.status}; it is not waiting for authentication.`,
      'intent',
    );
  }
  intent.status = 'succeeded';
  intent.amount_received = intent.amount;
  intent.last_payment_error = null;
  intent.next_action = null;
  store.emit('payment_intent.succeeded', intent, automaticRequest);
  return intent;
}
