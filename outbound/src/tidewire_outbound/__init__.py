"""tidewire_outbound: agents' messages to the WhatsApp Cloud API, at most once."""
