"""Payments through iyzico (issue 17): the hosted checkout form (card data never touches
Köprü), settled only from what iyzico itself answers, refunds and cancellations as
outward calls (kopru.work), the buyer kept under the subject key, payment records under
the commercial-books hold."""
