// Placeholder so qatwb_plot has a source until ui/plot's charts land; delete when they do.
namespace qatwb::plot {
void plot_placeholder() {}
}  // namespace qatwb::plot
