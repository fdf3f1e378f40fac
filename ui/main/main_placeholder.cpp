// Placeholder so qatwb_ui has a source until ui/main's window lands; delete when it does.
namespace qatwb::ui {
void main_placeholder() {}
}  // namespace qatwb::ui
