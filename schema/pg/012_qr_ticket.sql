-- 012_qr_ticket (PostgreSQL): qr_codes.ticket is no longer UNIQUE; why,
-- and the rule that replaces it, in schema/012_qr_ticket.sql. PostgreSQL
-- drops the constraint in place (its default name); the ticket keeps a
-- plain index for qr.c's ticket check.
ALTER TABLE qr_codes DROP CONSTRAINT qr_codes_ticket_key;
CREATE INDEX qr_codes_ticket ON qr_codes(ticket) WHERE ticket IS NOT NULL;
