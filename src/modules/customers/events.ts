/** The events the customers domain publishes, by type. */
export type CustomerEvents = {
  /** A customer's personal data was erased: every tailer redacts what it holds of them. */
  CUSTOMER_ERASED: { customerId: string };
};
