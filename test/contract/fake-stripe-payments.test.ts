import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe/index.js';

/**
 * What the fake Stripe charges, through the real SDK: declines belong to cards (as Stripe's test cards'
 * do), invoices.pay follows Stripe's order of payment methods, and a PaymentIntent confirmed with
 * dynamic payment methods needs a return_url or allow_redirects=never, as the pinned API version does.
 */
describe('fake Stripe: which card a charge uses and how PaymentIntents are confirmed', () => {
  let fake: FakeStripe;
  let stripe: Stripe;

  beforeAll(async () => {
    fake = await startFakeStripe({ webhookSecret: 'whsec_fake_payments' });
    stripe = fake.client();
  });

  afterAll(async () => {
    await fake?.close();
  });

  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected Stripe to refuse');
      },
      (error: unknown) => error as Stripe.errors.StripeError,
    );

  /** A customer with a subscription whose default payment method is `card`, and an open invoice of it. */
  async function invoiceOn(card: string) {
    const customer = await stripe.customers.create({ email: 'payments@example.test' });
    const method = await stripe.paymentMethods.attach(card, { customer: customer.id });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_payments_metered' }],
      default_payment_method: method.id,
    });
    const invoice = fake.createInvoice(customer.id, { subscription: subscription.id, amountDue: 2_500 });
    fake.finalizeInvoice(invoice.id);
    return { customer, method, subscription, invoice };
  }

  const attemptsOn = (invoiceId: string) =>
    fake.invoicePaymentAttempts
      .filter((attempt) => attempt.invoice === invoiceId)
      .map((attempt) => [attempt.paymentMethod, attempt.outcome]);

  it('should decline per card: after setCardDeclines, a card the customer adds pays the invoice when it is named', async () => {
    const { customer, method, invoice } = await invoiceOn('pm_card_visa');
    fake.setCardDeclines(customer.id, true);
    const added = await stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id });

    const declined = await failure(stripe.invoices.pay(invoice.id, {}));
    expect(declined).toMatchObject({ statusCode: 402, code: 'card_declined' });
    const paid = await stripe.invoices.pay(invoice.id, { payment_method: added.id });

    expect(paid.status).toBe('paid');
    expect(attemptsOn(invoice.id)).toEqual([
      [method.id, 'declined'],
      [added.id, 'succeeded'],
    ]);
  });

  it("should charge, without payment_method, the subscription's default before the customer's invoice_settings default", async () => {
    const { customer, method, subscription, invoice } = await invoiceOn('pm_card_chargeCustomerFail');
    const customerDefault = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: customerDefault.id },
    });

    expect(await failure(stripe.invoices.pay(invoice.id, {}))).toMatchObject({ statusCode: 402 });
    await stripe.subscriptions.update(subscription.id, { default_payment_method: '' });
    expect((await stripe.invoices.pay(invoice.id, {})).status).toBe('paid');

    expect(attemptsOn(invoice.id)).toEqual([
      [method.id, 'declined'],
      [customerDefault.id, 'succeeded'],
    ]);
  });

  describe('PaymentIntents confirmed at creation (dynamic payment methods)', () => {
    let customer: Stripe.Customer;

    beforeAll(async () => {
      customer = await stripe.customers.create({ email: 'intents@example.test' });
    });

    const offSession = (paymentMethod: string, extra: Partial<Stripe.PaymentIntentCreateParams> = {}) =>
      stripe.paymentIntents.create({
        amount: 2_000,
        currency: 'usd',
        customer: customer.id,
        payment_method: paymentMethod,
        off_session: true,
        confirm: true,
        ...extra,
      });
    const intentsOfCustomer = () =>
      [...fake.paymentIntents.values()].filter((intent) => intent.customer === customer.id);

    it('should refuse a confirmation without a return_url or automatic_payment_methods[allow_redirects]=never, creating nothing', async () => {
      const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
      const before = intentsOfCustomer().length;

      const refused = await failure(offSession(card.id));
      const alsoRefused = await failure(
        offSession(card.id, { automatic_payment_methods: { enabled: true, allow_redirects: 'always' } }),
      );

      for (const error of [refused, alsoRefused]) {
        expect(error).toMatchObject({
          statusCode: 400,
          type: 'StripeInvalidRequestError',
          param: 'return_url',
        });
        expect(error.message).toMatch(/A `return_url` must be specified/);
      }
      expect(intentsOfCustomer()).toHaveLength(before);
    });

    it('should charge a saved card off session with allow_redirects=never, or with a return_url', async () => {
      const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });

      const never = await offSession(card.id, {
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      });
      const returning = await offSession(card.id, { return_url: 'https://app.example.test/billing' });

      expect(never).toMatchObject({
        status: 'succeeded',
        amount_received: 2_000,
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      });
      expect(returning).toMatchObject({
        status: 'succeeded',
        automatic_payment_methods: { enabled: true, allow_redirects: 'always' },
      });
    });

    it('should answer a card that needs authentication with the authentication_required soft decline off session, and requires_action on session', async () => {
      const card = await stripe.paymentMethods.attach('pm_card_authenticationRequired', {
        customer: customer.id,
      });

      const declined = await failure(
        offSession(card.id, { automatic_payment_methods: { enabled: true, allow_redirects: 'never' } }),
      );
      expect(declined).toMatchObject({
        statusCode: 402,
        type: 'StripeCardError',
        code: 'authentication_required',
        decline_code: 'authentication_required',
      });
      const intent = declined.payment_intent!;
      expect(intent).toMatchObject({ status: 'requires_payment_method', payment_method: card.id });
      expect(fake.paymentIntents.get(intent.id)?.last_payment_error).toMatchObject({
        code: 'authentication_required',
      });

      const onSession = await stripe.paymentIntents.create({
        amount: 2_000,
        currency: 'usd',
        customer: customer.id,
        payment_method: card.id,
        confirm: true,
        return_url: 'https://app.example.test/billing',
      });
      expect(onSession).toMatchObject({
        status: 'requires_action',
        amount_received: 0,
        next_action: {
          type: 'redirect_to_url',
          redirect_to_url: {
            return_url: 'https://app.example.test/billing',
            url: `${fake.url}/authenticate/${onSession.id}`,
          },
        },
      });
    });
  });
});
