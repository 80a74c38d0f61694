//! loom models of the member-bitmap and owner-word protocols.
