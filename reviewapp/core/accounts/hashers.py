"""How passwords are stored.

Argon2id at OWASP's recommended minimum (19 MiB of memory, two passes, one lane) costs ~25 ms of
CPU per sign-in against ~270 ms for Django's PBKDF2 default, so fifty reviewers starting a shift at
once do not queue for seconds behind each other, and it is harder, not easier, to attack on a GPU
than PBKDF2. Hashes made with the older hashers still verify and are re-hashed at the next sign-in.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    # The same "argon2" algorithm and encoding as Django's: the parameters travel in each hash,
    # so changing them here re-hashes a password at its next sign-in (``must_update``).
    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1
