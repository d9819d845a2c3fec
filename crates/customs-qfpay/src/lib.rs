//! QFPay customs declaration (`/custom/v1/declare|query|redeclare`).

pub mod sign;
