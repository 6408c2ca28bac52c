"""Ingest: accepts WhatsApp webhooks and agent commands and makes them durable in Kafka."""
