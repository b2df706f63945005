mod faq_check;
