"""The MQTT link to the operator's backend: topics, schemas, command checks, outbox delivery."""
