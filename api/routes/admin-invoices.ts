import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { listAdminInvoices } from '../../src/db/admin-queries.js';
import type { Queryable } from '../../src/db/pool.js';
import { createRouter, failures, json, openApiRoute, security } from '../router.js';
import { customerIdParam, idCursor, pageLimit } from '../schemas.js';
import { adminInvoiceJson } from '../serializers.js';
import { INVOICE_STATUSES } from '../../src/domain/invoice.js';

export const adminInvoicesQuery = z.object({
  customerId: customerIdParam.optional(),
  status: z.enum(INVOICE_STATUSES).optional(),
  reconciliation: z.enum(['pending', 'matched', 'adjusted', 'mismatch']).optional(),
  limit: pageLimit(200, 50),
  before: idCursor(18, 'must be an invoice id (nextBefore of the previous page)'),
});

const adminInvoice = z.object({
  id: z.string(),
  stripeInvoiceId: z.string(),
  customerId: z.string(),
  periodStart: z.string(),
  periodEnd: z.string(),
  status: z.string(),
  currency: z.string(),
  amountDue: z.string(),
  amountDueMicros: z.string(),
  amountPaid: z.string(),
  amountPaidMicros: z.string(),
  ledgerTotal: z.string().nullable(),
  ledgerTotalMicros: z.string().nullable(),
  reconciliationStatus: z.string(),
  reconciliationNote: z.string().nullable(),
  hostedInvoiceUrl: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const listInvoices = createRoute({
  method: 'get',
  path: '/api/admin/invoices',
  summary: 'Invoices, newest first; ?customerId=&status=&reconciliation=&limit=&before=<nextBefore>',
  tags: ['admin'],
  security: security('admin'),
  request: { query: adminInvoicesQuery },
  responses: {
    200: json('One page', z.object({ invoices: z.array(adminInvoice), nextBefore: z.string().nullable() })),
    ...failures(400, 401, 503),
  },
});

/** The invoices of every customer, as the admin pages list them. */
export function adminInvoiceRoutes(deps: { db: Queryable }) {
  const router = createRouter();
  openApiRoute(router, listInvoices, async (c, { query }) => {
    const { invoices, nextBefore } = await listAdminInvoices(deps.db, {
      limit: query.limit,
      ...(query.before ? { before: BigInt(query.before) } : {}),
      ...(query.customerId ? { customerId: query.customerId } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.reconciliation ? { reconciliation: query.reconciliation } : {}),
    });
    return c.json({ invoices: invoices.map(adminInvoiceJson), nextBefore });
  });
  return router;
}
