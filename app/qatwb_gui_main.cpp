// qatwb-gui: placeholder entry point until the main window lands (GUI issue #6).
#include <QApplication>
#include <QLabel>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QLabel label("qatwb-gui");
  label.show();
  return app.exec();
}
