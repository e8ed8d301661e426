DROP TABLE key_rotation_requests;
DROP TABLE key_certificates;
