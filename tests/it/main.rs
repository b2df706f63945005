mod faq_eval;
mod faq_matcher;
