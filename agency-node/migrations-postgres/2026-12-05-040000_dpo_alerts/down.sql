DROP TABLE dpo_alerts;
