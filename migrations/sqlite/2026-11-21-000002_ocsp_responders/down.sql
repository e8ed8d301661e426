DROP TABLE ocsp_responders;
