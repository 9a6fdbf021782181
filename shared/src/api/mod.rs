//! The public API's shape: its routes and answers, the validation of its bodies, and the error
//! catalogue. No storage or AWS type.

pub mod changes;
pub mod error;
pub mod http;
pub mod markup;
pub mod sources;
pub mod validate;
