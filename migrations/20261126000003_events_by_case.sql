-- Auditors look a case up by its id alone (its aggregate type is not in the URL).
CREATE INDEX events_aggregate_id_idx ON events (aggregate_id);
