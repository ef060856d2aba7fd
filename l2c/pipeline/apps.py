from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "l2c.pipeline"
    label = "pipeline"
    verbose_name = "Pipeline"
