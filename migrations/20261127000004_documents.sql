-- Issued documents (e.g. a certificate's PDF for electronic delivery). The bytes live here;
-- the `CertificateIssued` event records the document's id, name, size and SHA-256, so an
-- auditor can check that the file served is the file issued. Rows are never updated.
CREATE TABLE documents (
    id             uuid PRIMARY KEY,
    application_id text        NOT NULL,
    filename       text        NOT NULL,
    content_type   text        NOT NULL,
    size_bytes     bigint      NOT NULL,
    sha256         text        NOT NULL,
    bytes          bytea       NOT NULL,
    uploaded_by    text        NOT NULL,
    uploaded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_application_idx ON documents (application_id);
