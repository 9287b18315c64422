DROP TABLE records;
DROP TABLE children;
