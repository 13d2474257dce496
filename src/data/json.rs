//! Values rendered as JSON text.
