"""A stand-in for the little of Django that the README's signal handlers use, since Debian's
packages used by the tests do not include Django: signals with receiver registration
(django.dispatch), post_save/post_delete sent by Model.save()/delete(), transaction.on_commit
(which, outside an atomic block, runs its function at once, as Django's does in autocommit mode),
a CharField and model_to_dict. Importing this module registers them as the `django` package.
Nothing of the handlers is stubbed: their Redis connection and FCALL are real."""
import sys
import types


class Signal:
    def __init__(self):
        self.receivers = []

    def connect(self, receiver, sender=None):
        self.receivers.append((receiver, sender))

    def send(self, sender, **named):
        return [(r, r(signal=self, sender=sender, **named)) for r, s in self.receivers if s in (None, sender)]


def receiver(signal, sender=None):
    def decorator(func):
        signal.connect(func, sender=sender)
        return func

    return decorator


post_save = Signal()
post_delete = Signal()


def on_commit(func, using=None):
    func()


class CharField:
    def __init__(self, max_length=None):
        self.max_length = max_length


class Model:
    _next_id = 0

    def __init__(self, **fields):
        self.id = None
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def pk(self):
        return self.id

    @classmethod
    def field_names(cls):
        return [name for name, value in vars(cls).items() if isinstance(value, CharField)]

    def save(self):
        created = self.id is None
        if created:
            Model._next_id += 1
            self.id = Model._next_id
        post_save.send(sender=type(self), instance=self, created=created)

    def delete(self):
        post_delete.send(sender=type(self), instance=self)
        self.id = None


def model_to_dict(instance):
    return {"id": instance.pk, **{name: getattr(instance, name) for name in type(instance).field_names()}}


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []  # a package, so that its submodules import
    sys.modules[name] = module
    return module


_module("django")
_module("django.dispatch", Signal=Signal, receiver=receiver)
_module("django.db.transaction", on_commit=on_commit)
_module("django.db.models.signals", post_save=post_save, post_delete=post_delete)
_module("django.db.models", Model=Model, CharField=CharField, signals=sys.modules["django.db.models.signals"])
_module("django.db", transaction=sys.modules["django.db.transaction"], models=sys.modules["django.db.models"])
_module("django.forms.models", model_to_dict=model_to_dict)
_module("django.forms", models=sys.modules["django.forms.models"])
