"""Items from a message bus: the second door of ingest, beside the HTTP endpoint.

``sources.py`` is the one interface every bus implements (fetch a batch, acknowledge,
dead-letter, hand back for redelivery); ``amqp.py`` (RabbitMQ, through kombu) and
``jetstream.py`` (NATS JetStream, through nats-py) implement it; ``consumer.py`` turns a batch of
messages into items with the same ``items_ingest`` the HTTP endpoint uses, and acknowledges
them only after the items' transaction has committed.
"""
